import Glibc
import KVM
import KVMBindings
import Testing

extension IntegrationTests {
    /// Scenario 7: 1,000 cycles of VM + memory + vCPU creation, one guest run, and release leave the
    /// process's descriptors (and `kvm_run` mappings) as they were.
    @Suite struct CreateDestroyCycles {
        static let cycles = 1000

        @Test func thousandCyclesLeakNoDescriptors() throws {
            let system = try TestMachine.system()
            try Self.cycle(system)  // warm-up: first-use work (signal handler, lazily opened files)
            let before = ProcessResources.take()

            let start = MonotonicClock.now
            for _ in 0 ..< Self.cycles { try Self.cycle(system) }
            let elapsed = MonotonicClock.now - start

            // Other suites of the test process may briefly hold descriptors of their own: wait for the
            // process-wide counts to settle (a leak of 1,000 cycles would not).
            var after = ProcessResources.take()
            let deadline = MonotonicClock.now + 5
            while after != before, MonotonicClock.now < deadline {
                sleep(milliseconds: 20)
                after = ProcessResources.take()
            }
            print(
                "\(Self.cycles) create/run/destroy cycles: \(Int(elapsed * 1000)) ms "
                    + "(\(Int(elapsed / Double(Self.cycles) * 1e6)) µs each); descriptors before \(before), after \(after)")
            #expect(after.kvmDescriptors == before.kvmDescriptors, "KVM VM/vCPU descriptors")
            #expect(after.vcpuMappings == before.vcpuMappings, "kvm_run mappings")
            #expect(after.totalDescriptors == before.totalDescriptors, "all descriptors")
        }

        /// Creates a VM with 64 KiB of memory and a vCPU, runs a `hlt`, and releases everything.
        static func cycle(_ system: KVMSystem) throws {
            let vm = try system.createVM()
            try vm.mapMemory(slot: 0, at: 0, size: 0x1_0000)
            try vm.memory.write(bytes: [0xF4], at: 0x1000)
            let vcpu = try vm.createVCPU(id: 0)
            try vcpu.enterRealMode(rip: 0x1000)
            let exit = try vcpu.run()
            guard case .halt = exit else { throw GuestFailure("expected hlt, got \(exit)") }
        }
    }
}

/// Counts of the process's descriptors and mappings, from /proc/self.
struct ProcessResources: Equatable, CustomStringConvertible {
    var totalDescriptors = 0
    /// Descriptors for /dev/kvm, VMs and vCPUs, by `readlink` target kind.
    var kvmDescriptors: [String: Int] = [:]
    /// Mappings of vCPU fds (`kvm_run`) in /proc/self/maps.
    var vcpuMappings = 0

    var description: String {
        "\(totalDescriptors) total, KVM \(kvmDescriptors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }), "
            + "\(vcpuMappings) vCPU mappings"
    }

    static func take() -> ProcessResources {
        var resources = ProcessResources()
        // SAFETY: opendir/readdir/closedir on a directory stream this function owns; each dirent is
        // read before the next readdir call; readlink writes at most `buffer.count` bytes.
        guard let directory = opendir("/proc/self/fd") else { return resources }
        defer { closedir(directory) }
        let ownDescriptor = dirfd(directory)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let number = Int32(name), number != ownDescriptor else { continue }
            resources.totalDescriptors += 1
            var buffer = [CChar](repeating: 0, count: 256)
            let length = readlink("/proc/self/fd/\(name)", &buffer, buffer.count - 1)
            guard length > 0 else { continue }
            let target = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let kind: String? =
                if target == "/dev/kvm" { "/dev/kvm" }
                else if target.hasPrefix("anon_inode:kvm-vcpu") { "kvm-vcpu" }
                else if target.hasPrefix("anon_inode:kvm-vm") { "kvm-vm" }
                else { nil }
            if let kind { resources.kvmDescriptors[kind, default: 0] += 1 }
        }
        resources.vcpuMappings = readFile("/proc/self/maps").split(separator: "\n").filter { $0.contains("kvm-vcpu") }.count
        return resources
    }

    static func readFile(_ path: String) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return "" }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk.prefix(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
