import Foundation
import Testing

/// The typed ioctl wrappers make misuse a compile error: an ioctl exists only on the fd kinds it applies
/// to, and takes only its own argument type. Each case type-checks a small client of the built
/// `KVMBindings` module with swiftc.
@Suite("Typed ioctl wrappers reject misuse at compile time")
struct TypedWrapperMisuseTests {
    static let correctUse = """
        import KVMBindings
        func use(system: KVMSystemFD, vm: KVMVMFD, vcpu: KVMVCPUFD, device: KVMDeviceFD) throws {
            _ = try system.checkExtension(.irqchip)
            _ = try vm.checkExtension(.irqchip)
            let vcpuFD: KVMVCPUFD = try vm.createVCPU(0)
            var registers = try vcpuFD.getRegs()
            registers.rax = 1
            try vcpu.setRegs(registers)
            var attribute = KVMDeviceAttr()
            try device.getDeviceAttr(&attribute)
            try vcpu.setDeviceAttr(attribute)
        }
        """

    static let misuses: [(name: String, body: String, error: String)] = [
        ("vCPU ioctl on a VM fd", "func f(vm: KVMVMFD) throws { _ = try vm.getRegs() }", "'getRegs()' on 'KVMFileDescriptor' requires the types 'KVMVMKind' and 'KVMVCPUKind' be equivalent"),
        ("VM ioctl on a vCPU fd", "func f(vcpu: KVMVCPUFD) throws { _ = try vcpu.createVCPU(1) }", "'createVCPU' on 'KVMFileDescriptor' requires the types 'KVMVCPUKind' and 'KVMVMKind' be equivalent"),
        ("system ioctl on a device fd", "func f(d: KVMDeviceFD) throws { _ = try d.createVM() }", "'createVM' on 'KVMFileDescriptor' requires the types 'KVMDeviceKind' and 'KVMSystemKind' be equivalent"),
        ("set attribute on /dev/kvm", "func f(s: KVMSystemFD) throws { try s.setDeviceAttr(KVMDeviceAttr()) }", "no exact matches in call to instance method 'setDeviceAttr'"),
        ("wrong argument type", "func f(vcpu: KVMVCPUFD) throws { try vcpu.setRegs(KVMSRegs()) }", "cannot convert value of type 'KVMSRegs'"),
        ("capability as a plain integer", "func f(s: KVMSystemFD) throws { _ = try s.checkExtension(0) }", "KVMCapability"),
    ]

    @Test func correctUseCompiles() throws {
        let errors = try Self.typecheck(Self.correctUse)
        #expect(errors.isEmpty, "\(errors)")
    }

    @Test(arguments: misuses.map(\.name))
    func misuseDoesNotCompile(name: String) throws {
        let misuse = try #require(Self.misuses.first { $0.name == name })
        let errors = try Self.typecheck("import KVMBindings\n" + misuse.body)
        #expect(errors.contains { $0.contains(misuse.error) }, "\(name): expected an error containing \(misuse.error), got \(errors)")
    }

    /// The `error:` lines swiftc reports for `source` compiled against the built KVMBindings module.
    static func typecheck(_ source: String) throws -> [String] {
        let toolchain = try SwiftTypeCheck.toolchain.get()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("kvm-misuse-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let file = work.appendingPathComponent("client.swift")
        try source.write(to: file, atomically: true, encoding: .utf8)
        let result = try ProcessRunner.run(
            [toolchain.swiftc, "-typecheck", "-parse-as-library", "-swift-version", "6", "-module-cache-path",
             work.appendingPathComponent("cache").path] + toolchain.searchFlags + [file.path],
            in: work)
        return (result.standardError + result.standardOutput).split(separator: "\n").filter { $0.contains("error:") }.map(String.init)
    }
}
