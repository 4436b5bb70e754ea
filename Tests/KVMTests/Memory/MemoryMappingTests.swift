import Testing
@testable import KVM

@Suite struct MemoryMappingTests {
    @Test func roundsUpToPagesAndStartsZeroed() throws {
        let mapping = try MemoryMapping(byteCount: 1)
        #expect(mapping.byteCount == hostPageSize)
        #expect(mapping.hostAddress % UInt64(hostPageSize) == 0)
        let allZero = mapping.withUnsafeMutableBytes { buffer in buffer.allSatisfy { $0 == 0 } }
        #expect(allZero)

        let larger = try MemoryMapping(byteCount: 3 * hostPageSize + 1)
        #expect(larger.byteCount == 4 * hostPageSize)
    }

    @Test func isWritable() throws {
        let mapping = try MemoryMapping(byteCount: 2 * hostPageSize)
        mapping.withUnsafeMutableBytes { buffer in
            buffer[0] = 0xAA
            buffer[buffer.count - 1] = 0x55
        }
        let ends = mapping.withUnsafeMutableBytes { ($0[0], $0[$0.count - 1]) }
        #expect(ends == (0xAA, 0x55))
    }

    @Test(arguments: [0, -1, Int.min])
    func rejectsNonPositiveSizes(byteCount: Int) {
        #expect(throws: KVMRuntimeError.invalidArgument(
            operation: "MemoryMapping(byteCount:)", reason: "size \(byteCount) is not positive")
        ) {
            try MemoryMapping(byteCount: byteCount)
        }
    }

    @Test func rejectsSizesThatOverflowWhenRounded() {
        #expect(throws: KVMRuntimeError.invalidArgument(
            operation: "MemoryMapping(byteCount:)",
            reason: "size \(Int.max) overflows when rounded up to \(hostPageSize)-byte pages")
        ) {
            try MemoryMapping(byteCount: Int.max)
        }
    }

    @Test func reportsKernelRefusal() {
        // Page-aligned but far larger than any address space: the kernel says ENOMEM (asked with
        // overcommit allowed, since the runtime refuses anything above the host's RAM and swap first).
        var backing = MemoryBacking.anonymous
        backing.allowsOvercommit = true
        #expect(throws: KVMRuntimeError.system(KVMError(operation: "mmap", errno: .noMemory))) {
            try MemoryMapping(byteCount: Int.max & ~(hostPageSize - 1), backing: backing)
        }
    }

    @Test func refusesMoreThanTheHostHas() throws {
        let size = Int.max & ~(hostPageSize - 1)
        let available = try #require(MemoryMapping.hostMemoryAndSwap())
        #expect(throws: KVMRuntimeError.hostMemoryExceeded(requested: size, available: available)) {
            try MemoryMapping(byteCount: size)
        }
    }
}
