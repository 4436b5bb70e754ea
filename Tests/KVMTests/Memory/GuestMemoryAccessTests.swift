import Testing
import KVM

/// Hand-picked access cases; ``GuestMemoryPropertyTests`` covers the space at random.
@Suite struct GuestMemoryAccessTests {
    /// [0x0, 0x2000) and [0x2000, 0x3000) contiguous, a gap, then [0x5000, 0x6000).
    func makeMemory() throws -> GuestMemory {
        try GuestMemory(regions: [
            GuestMemoryRegion(slot: 0, guestBase: 0x0, mapping: MemoryMapping(byteCount: 0x2000)),
            GuestMemoryRegion(slot: 1, guestBase: 0x2000, mapping: MemoryMapping(byteCount: 0x1000)),
            GuestMemoryRegion(slot: 2, guestBase: 0x5000, mapping: MemoryMapping(byteCount: 0x1000)),
        ])
    }

    @Test func roundTripWithinARegion() throws {
        let memory = try makeMemory()
        try memory.write(bytes: [1, 2, 3, 4], at: 0x100)
        #expect(try memory.readBytes(at: 0x100, count: 4) == [1, 2, 3, 4])
        #expect(try memory.readBytes(at: 0xFE, count: 8) == [0, 0, 1, 2, 3, 4, 0, 0])
    }

    @Test func accessesCrossContiguousRegions() throws {
        let memory = try makeMemory()
        let bytes = (0 ..< 16).map { UInt8($0) }
        try memory.write(bytes: bytes, at: 0x1FF8)
        #expect(try memory.readBytes(at: 0x1FF8, count: 16) == bytes)
        // The halves really landed in different mappings.
        #expect(try memory.readBytes(at: 0x2000, count: 8) == Array(bytes[8...]))

        try memory.store(UInt64(0x1122_3344_5566_7788), at: 0x1FFC)
        #expect(try memory.load(UInt64.self, at: 0x1FFC) == 0x1122_3344_5566_7788)
        #expect(try memory.readBytes(at: 0x1FFC, count: 8) == [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11])
        #expect(try memory.load(UInt32.self, at: 0x2000) == 0x1122_3344)
    }

    @Test func unalignedTypedAccess() throws {
        let memory = try makeMemory()
        try memory.store(UInt32(0xDEAD_BEEF), at: 0x5003)
        #expect(try memory.load(UInt32.self, at: 0x5003) == 0xDEAD_BEEF)
        #expect(try memory.load(UInt16.self, at: 0x5004) == 0xADBE)
    }

    @Test func gapIsReportedAtFirstMissingByte() throws {
        let memory = try makeMemory()
        #expect(throws: GuestMemoryError.addressNotMapped(0x3000)) {
            try memory.readBytes(at: 0x2FFE, count: 4)
        }
        #expect(throws: GuestMemoryError.addressNotMapped(0x3000)) {
            try memory.store(UInt32(1), at: 0x2FFE)
        }
        #expect(throws: GuestMemoryError.addressNotMapped(0x4FFF)) {
            try memory.readBytes(at: 0x4FFF, count: 2)
        }
        #expect(throws: GuestMemoryError.addressNotMapped(0x6000)) {
            try memory.load(UInt16.self, at: 0x5FFF)
        }
    }

    @Test func failedWriteChangesNothing() throws {
        let memory = try makeMemory()
        #expect(throws: GuestMemoryError.addressNotMapped(0x3000)) {
            try memory.write(bytes: [UInt8](repeating: 0xFF, count: 0x20), at: 0x2FF0)
        }
        #expect(try memory.readBytes(at: 0x2FF0, count: 0x10) == [UInt8](repeating: 0, count: 0x10))
    }

    @Test func hugeAndNegativeLengthsFailWithoutAllocating() throws {
        let memory = try makeMemory()
        #expect(throws: GuestMemoryError.addressNotMapped(0x3000)) {
            try memory.readBytes(at: 0, count: Int.max)
        }
        #expect(throws: GuestMemoryError.negativeLength(-1)) {
            try memory.readBytes(at: 0, count: -1)
        }
        #expect(throws: GuestMemoryError.addressNotMapped(0x6000)) {
            try memory.readBytes(at: 0x5000, count: Int.max)
        }
        #expect(throws: GuestMemoryError.rangeOverflow(start: GuestAddress(UInt64.max - 10), length: UInt64(Int.max))) {
            try memory.readBytes(at: GuestAddress(UInt64.max - 10), count: Int.max)
        }
        #expect(throws: GuestMemoryError.rangeOverflow(start: GuestAddress(UInt64.max), length: 2)) {
            try memory.readBytes(at: GuestAddress(UInt64.max), count: 2)
        }
    }

    @Test func topOfAddressSpace() throws {
        let top = GuestAddress(UInt64.max - 0xFFF)
        let memory = try GuestMemory(regions: [
            GuestMemoryRegion(slot: 0, guestBase: top, mapping: MemoryMapping(byteCount: 0x1000)),
        ])
        try memory.store(UInt8(0x5A), at: GuestAddress(UInt64.max))
        #expect(try memory.load(UInt8.self, at: GuestAddress(UInt64.max)) == 0x5A)
        #expect(try memory.readBytes(at: top, count: 0x1000).last == 0x5A)
        #expect(throws: GuestMemoryError.rangeOverflow(start: GuestAddress(UInt64.max), length: 2)) {
            try memory.load(UInt16.self, at: GuestAddress(UInt64.max))
        }
        #expect(throws: GuestMemoryError.rangeOverflow(start: GuestAddress(UInt64.max - 3), length: 8)) {
            try memory.store(UInt64(0), at: GuestAddress(UInt64.max - 3))
        }
    }

    @Test func inPlaceAccessStaysInOneRegion() throws {
        let memory = try makeMemory()
        try memory.withUnsafeMutableBytes(at: 0x2100, count: 3) { buffer in
            buffer.copyBytes(from: [7, 8, 9])
        }
        #expect(try memory.readBytes(at: 0x2100, count: 3) == [7, 8, 9])
        // Contiguous with the next region, but not one region: refused.
        #expect(throws: GuestMemoryError.lengthTooLarge(requested: 0x10, available: 8)) {
            try memory.withUnsafeMutableBytes(at: 0x1FF8, count: 0x10) { _ in }
        }
        #expect(throws: GuestMemoryError.addressNotMapped(0x4000)) {
            try memory.withUnsafeMutableBytes(at: 0x4000, count: 1) { _ in }
        }
        // Errors thrown by the body come through unchanged.
        struct BodyError: Error, Equatable {}
        #expect(throws: BodyError()) {
            try memory.withUnsafeMutableBytes(at: 0, count: 1) { _ in throw BodyError() }
        }
        #expect(try memory.withUnsafeMutableBytes(at: 0x4000, count: 0) { $0.count } == 0)
    }

    @Test func readIntoAndWriteFromRawBuffers() throws {
        let memory = try makeMemory()
        let source: [UInt8] = [9, 8, 7, 6, 5]
        try source.withUnsafeBytes { try memory.write($0, at: 0x2FFB) }
        var destination = [UInt8](repeating: 0, count: 5)
        try destination.withUnsafeMutableBytes { try memory.read(into: $0, at: 0x2FFB) }
        #expect(destination == source)
    }

    @Test func copiesShareTheBytes() throws {
        let memory = try makeMemory()
        var copy = memory
        try copy.write(bytes: [42], at: 0x10)
        #expect(try memory.readBytes(at: 0x10, count: 1) == [42])
        copy.removeRegion(slot: 0)
        #expect(memory.region(containing: 0x10) != nil)
    }
}
