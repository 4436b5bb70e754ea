import Glibc
import KVM
import KVMBindings
import SystemPackage
import Testing

/// Guest RAM backed by a memfd, by transparent huge pages (populated), by hugetlbfs, and filled
/// straight from a file, each with a real guest running on it.
extension IntegrationTests {
    @Suite struct MemoryBackings {
        /// `mov al, [0x2000]; out 0x80, al; mov byte [0x2001], 0x77; hlt` in real mode at 0x1000.
        static let echoProgram: [UInt8] = [0xA0, 0x00, 0x20, 0xE6, 0x80, 0xC6, 0x06, 0x01, 0x20, 0x77, 0xF4]

        /// A VM whose slot 0 (64 KiB at 0) is backed as `backing`, with vCPU 0 in real mode at 0x1000.
        static func machine(_ backing: MemoryBacking, size: Int = 0x1_0000) throws -> (VirtualMachine, VCPU, GuestMemoryRegion) {
            let vm = try TestMachine.system().createVM()
            let region = try vm.mapMemory(slot: 0, at: 0, size: size, backing: backing)
            let vcpu = try vm.createVCPU(id: 0)
            try vcpu.enterRealMode(rip: 0x1000)
            return (vm, vcpu, region)
        }

        /// Guest RAM larger than the host's RAM and swap is a typed error before anything is mapped;
        /// a VMM that overcommits on purpose gets a lazy mapping and a guest that runs on it.
        @Test func guestRAMLargerThanTheHostIsATypedErrorUnlessOvercommitted() throws {
            let host = try Self.hostMemoryAndSwap()
            let size = (host + (1 << 30)) & ~((1 << 30) - 1)  // the next GiB above RAM + swap
            let vm = try TestMachine.system().createVM()
            #expect(throws: KVMRuntimeError.hostMemoryExceeded(requested: size, available: host)) {
                try vm.mapMemory(slot: 0, at: 0, size: size)
            }
            #expect(throws: KVMRuntimeError.hostMemoryExceeded(requested: size, available: host)) {
                try vm.mapMemory(slot: 0, at: 0, size: size, backing: .memoryFile(name: "too-big"))
            }
            var overcommitted = MemoryBacking.anonymous
            overcommitted.allowsOvercommit = true
            let (bigVM, vcpu, region) = try Self.machine(overcommitted, size: size)
            #expect(region.size == UInt64(size))
            try bigVM.memory.write(bytes: Self.echoProgram, at: 0x1000)
            try bigVM.memory.write(bytes: [0x5A], at: 0x2000)
            #expect(try Self.runEcho(vcpu) == 0x5A)
        }

        /// RAM + swap from /proc/meminfo (MemTotal + SwapTotal), independently of the runtime's sysinfo.
        static func hostMemoryAndSwap() throws -> Int {
            let file = try FileDescriptor.open("/proc/meminfo", .readOnly)
            defer { try? file.close() }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = try buffer.withUnsafeMutableBytes { try file.read(into: $0) }
                if count == 0 { break }
                bytes += buffer[0..<count]
            }
            var total = 0
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n")
            where line.hasPrefix("MemTotal:") || line.hasPrefix("SwapTotal:") {
                let fields = line.split(separator: " ")
                total += try #require(Int(fields[1])) * 1024
            }
            return total
        }

        /// Runs the echo program: returns the byte it read at 0x2000 (through port 0x80).
        static func runEcho(_ vcpu: VCPU) throws -> UInt8 {
            var echoed: UInt8?
            while true {
                switch try vcpu.run() {
                case .io(let io) where io.port == 0x80 && io.direction == .out: echoed = UInt8(truncatingIfNeeded: io.value)
                case .halt: return try #require(echoed)
                case .interrupted: continue
                case let exit: throw GuestFailure("unexpected exit \(exit)")
                }
            }
        }

        @Test func memoryFileIsSharedThroughItsDescriptor() throws {
            let (vm, vcpu, region) = try Self.machine(.memoryFile(name: "kvm-test-ram"))
            let file = try #require(region.mapping.memoryFile)
            #expect(region.mapping.backing.source == .memoryFile(name: "kvm-test-ram"))
            // The descriptor is a memfd by that name.
            let link = try readLink("/proc/self/fd/\(file.rawValue)")
            #expect(link.hasPrefix("/memfd:kvm-test-ram"), "\(link)")
            // Written through the file (as another process would), read by the guest.
            _ = try file.writeAll(toAbsoluteOffset: 0x1000, Self.echoProgram)
            _ = try file.writeAll(toAbsoluteOffset: 0x2000, [0x5C])
            #expect(try Self.runEcho(vcpu) == 0x5C)
            // Written by the guest, read through the file.
            var byte: [UInt8] = [0]
            _ = try byte.withUnsafeMutableBytes { try file.read(fromAbsoluteOffset: 0x2001, into: $0) }
            #expect(byte == [0x77])
            #expect(try vm.memory.load(UInt8.self, at: 0x2001) == 0x77)
        }

        @Test func transparentHugePagesAndPopulate() throws {
            let size = 4 << 20
            let (vm, vcpu, region) = try Self.machine(MemoryBacking(transparentHugePages: true, populate: true), size: size)
            // Populated: every page is resident before the guest touched any.
            var residency = [UInt8](repeating: 0, count: size / hostPageSize)
            let result = region.mapping.withUnsafeMutableBytes { bytes in
                // SAFETY: mincore reads the page table for the mapping and writes one byte per page
                // into `residency`, which has exactly that many.
                mincore(bytes.baseAddress, bytes.count, &residency)
            }
            #expect(result == 0)
            #expect(residency.allSatisfy { $0 & 1 == 1 }, "\(residency.filter { $0 & 1 == 0 }.count) pages not resident")
            // Advised: the kernel lists the mapping with the `hg` (MADV_HUGEPAGE) flag.
            let flags = try Self.vmFlags(of: region.mapping.hostAddress)
            #expect(flags.contains("hg"), "VmFlags: \(flags)")
            try vm.memory.write(bytes: Self.echoProgram, at: 0x1000)
            try vm.memory.store(UInt8(0x3D), at: 0x2000)
            #expect(try Self.runEcho(vcpu) == 0x3D)
        }

        @Test func hugeTLBPagesOrATypedErrorWhenTheHostHasNone() throws {
            let size = 4 << 20  // two 2 MiB pages
            let free = Self.freeHugePages()
            print("hugetlbfs 2 MiB pages free on this host: \(free.map(String.init) ?? "not reported")")
            guard let free, free >= 2 else {
                #expect(throws: KVMRuntimeError.hugePagesUnavailable(pageSize: 2 << 20, needed: 2, free: free)) {
                    _ = try MemoryMapping(byteCount: size, backing: .hugeTLB(pageSize: .twoMiB))
                }
                return
            }
            let (vm, vcpu, region) = try Self.machine(.hugeTLB(pageSize: .twoMiB), size: size)
            #expect(region.mapping.pageSize == 2 << 20)
            #expect(region.mapping.byteCount == size)
            #expect(try readLink("/proc/self/fd/\(try #require(region.mapping.memoryFile).rawValue)").contains("memfd:"))
            try vm.memory.write(bytes: Self.echoProgram, at: 0x1000)
            try vm.memory.store(UInt8(0x2E), at: 0x2000)
            #expect(try Self.runEcho(vcpu) == 0x2E)
        }

        @Test func hugeTLBRoundsUpToWholeHugePages() {
            #expect(HugePageSize(rawValue: 3 << 20) == nil)
            #expect(HugePageSize(rawValue: 4096) == nil)
            #expect(HugePageSize(rawValue: 2 << 20) == .twoMiB)
            #expect(HugePageSize.oneGiB.description == "1 GiB")
        }

        @Test func aMemoryFileNameWithANulIsRefused() {
            #expect(throws: KVMRuntimeError.invalidArgument(operation: "memfd_create", reason: "the name contains a NUL byte")) {
                _ = try MemoryMapping(byteCount: 4096, backing: .memoryFile(name: "a\0b"))
            }
        }

        // MARK: Files straight into guest memory

        @Test func aFileIsReadIntoGuestMemoryAndRuns() throws {
            let vm = try TestMachine.system().createVM()
            // Two contiguous slots: the file's bytes cross from one into the other.
            try vm.mapMemory(slot: 0, at: 0, size: 0x1000)
            try vm.mapMemory(slot: 1, at: 0x1000, size: 0xF000)
            let vcpu = try vm.createVCPU(id: 0)
            try vcpu.enterRealMode(rip: 0x1000)

            var image = [UInt8](repeating: 0xEE, count: 0x100)  // a header the VMM skips
            image += [UInt8](repeating: 0x90, count: 0x10) + Self.echoProgram  // nops, then the program
            let file = try TemporaryFile(contents: image)
            // From file offset 0x100 to guest 0xFF0: 0x10 bytes in slot 0, the rest in slot 1.
            try vm.memory.write(contentsOf: file.descriptor, offset: 0x100, count: image.count - 0x100, at: 0xFF0)
            #expect(try vm.memory.readBytes(at: 0xFF0, count: image.count - 0x100) == Array(image[0x100...]))
            try vm.memory.store(UInt8(0x6B), at: 0x2000)
            var registers = try vcpu.registers()
            registers.rip = 0xFF0
            try vcpu.setRegisters(registers)
            #expect(try Self.runEcho(vcpu) == 0x6B)
        }

        @Test func badFileReadsWriteNothing() throws {
            let vm = try TestMachine.system().createVM()
            try vm.mapMemory(slot: 0, at: 0, size: 0x2000)
            let file = try TemporaryFile(contents: [UInt8](repeating: 0xAB, count: 100))
            // Past the end of the file: refused before any byte is copied.
            #expect(throws: KVMRuntimeError.fileTooShort(size: 100, needed: 150)) {
                try vm.memory.write(contentsOf: file.descriptor, offset: 50, count: 100, at: 0x100)
            }
            // Past the end of guest memory: refused before the file is read.
            #expect(throws: KVMRuntimeError.guestMemory(.addressNotMapped(0x2000))) {
                try vm.memory.write(contentsOf: file.descriptor, count: 100, at: 0x1FD0)
            }
            #expect(throws: KVMRuntimeError.invalidArgument(operation: "GuestMemory.write(contentsOf:)", reason: "negative file offset -1")) {
                try vm.memory.write(contentsOf: file.descriptor, offset: -1, count: 1, at: 0)
            }
            #expect(try vm.memory.readBytes(at: 0, count: 0x2000).allSatisfy { $0 == 0 }, "nothing was written")
            // Not a file at all: the errno, named.
            let pipe = try FileDescriptor.pipe()
            defer {
                try? pipe.readEnd.close()
                try? pipe.writeEnd.close()
            }
            #expect(throws: KVMRuntimeError.system(KVMError(operation: "pread", errno: .illegalSeek))) {
                try vm.memory.write(contentsOf: pipe.readEnd, count: 1, at: 0)
            }
        }

        // MARK: Host facts

        static func freeHugePages() -> Int? {
            guard let text = try? readFile("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") else { return nil }
            return Int(text.split(separator: "\n").first ?? "")
        }

        /// The `VmFlags` line of the mapping starting at `address` in /proc/self/smaps.
        static func vmFlags(of address: UInt64) throws -> [Substring] {
            let smaps = try readFile("/proc/self/smaps")
            let start = String(address, radix: 16) + "-"
            var inMapping = false
            for line in smaps.split(separator: "\n") {
                if line.first?.isHexDigit == true, line.contains("-"), !line.hasPrefix("VmFlags") {
                    inMapping = line.hasPrefix(start)
                } else if inMapping, line.hasPrefix("VmFlags:") {
                    return line.dropFirst("VmFlags:".count).split(separator: " ")
                }
            }
            throw GuestFailure("no mapping at 0x\(String(address, radix: 16)) in /proc/self/smaps")
        }
    }
}

/// A file in /tmp with the given bytes, removed when released.
final class TemporaryFile {
    let path: String
    let descriptor: FileDescriptor

    init(contents: [UInt8]) throws {
        var template = Array("/tmp/kvm-test-XXXXXX".utf8CString)
        // SAFETY: mkstemp fills in the template in place (a local, NUL-terminated array).
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        descriptor = FileDescriptor(rawValue: fd)
        _ = try descriptor.writeAll(contents)
    }

    deinit {
        try? descriptor.close()
        unlink(path)
    }
}

/// The whole of a (small, procfs or sysfs) file as text.
func readFile(_ path: String) throws -> String {
    let fd = try FileDescriptor.open(FilePath(path), .readOnly)
    defer { try? fd.close() }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
        if count == 0 { break }
        bytes += chunk[..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Where a symbolic link points.
func readLink(_ path: String) throws -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    // SAFETY: readlink writes at most buffer.count - 1 bytes into the local buffer.
    let count = readlink(path, &buffer, buffer.count - 1)
    guard count >= 0 else { throw Errno(rawValue: errno) }
    return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
