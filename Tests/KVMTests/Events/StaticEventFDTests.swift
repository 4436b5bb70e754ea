import Foundation
import Testing

/// `EventFD`, irqfd and ioeventfd in a fully static executable (`-static-executable`), the way the
/// examples link (`smallVMM` in Package.swift). In such an executable `dlsym(RTLD_DEFAULT, …)` finds
/// nothing, so the runtime must call `eventfd` directly (it does, through CKVMShims); the program
/// checks both: that it is static (dlsym finds no `eventfd`) and that a guest's doorbell write
/// reaches an ioeventfd and an irqfd can be registered and signalled.
///
/// The program is linked by `swiftc -static-executable` from the object files this test build
/// already compiled (KVM, KVMBindings, SystemPackage, the C shims), so it adds a link, not a build.
extension IntegrationTests {
    @Suite struct StaticExecutable {
        static let program = """
            import Glibc
            import KVM

            // Static: the dynamic symbol table is empty, so a run-time lookup finds nothing.
            print("dlsym(eventfd): \\(dlsym(nil, "eventfd") == nil ? "nil" : "found")")
            let vm = try KVMSystem().createVM()
            try vm.createIRQChip()
            try vm.mapMemory(slot: 0, at: 0, size: 0x1_0000)
            // mov al, 0x5a; out 0xe0, al (the doorbell: no exit); out 0x80, al (an exit); hlt
            try vm.memory.write(bytes: [0xB0, 0x5A, 0xE6, 0xE0, 0xE6, 0x80, 0xF4], at: 0x1000)
            let doorbell = try vm.makeIOEventFD(at: .port(0xE0), length: 1)
            let interrupt = try vm.makeIRQFD(gsi: 5)
            let vcpu = try vm.createVCPU(id: 0)
            var special = try vcpu.specialRegisters()
            special.cs.base = 0
            special.cs.selector = 0
            try vcpu.setSpecialRegisters(special)
            var registers = try vcpu.registers()
            registers.rip = 0x1000
            registers.rflags = 2
            try vcpu.setRegisters(registers)
            while true {
                let exit = try vcpu.run()
                if case .interrupted = exit { continue }
                guard case .io(let io) = exit, io.port == 0x80 else { fatalError("unexpected exit \\(exit)") }
                break
            }
            print("ioeventfd count: \\(try doorbell.read())")
            try interrupt.write()
            print("irqfd signalled")
            """

        @Test func eventfdIrqfdAndIoeventfdWorkInAStaticExecutable() throws {
            let build = try BuildProducts.locate()
            let work = FileManager.default.temporaryDirectory.appendingPathComponent("kvm-static-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: work) }
            let source = work.appendingPathComponent("main.swift")
            try Self.program.write(to: source, atomically: true, encoding: .utf8)
            let executable = work.appendingPathComponent("static-eventfd")
            let link = try run(
                [build.swiftc, "-static-executable", "-swift-version", "6", "-module-cache-path", work.appendingPathComponent("cache").path,
                 "-o", executable.path, source.path] + build.moduleFlags + build.objects(of: ["KVM", "KVMBindings", "SystemPackage", "CKVMShims", "CSystem"]))
            try #require(link.status == 0, "linking failed:\n\(link.output)")
            // Really static: no program interpreter, so no dynamic loader ever runs.
            let file = try run(["/usr/bin/env", "readelf", "-l", executable.path])
            #expect(!file.output.contains("INTERP"), "the executable has a dynamic loader:\n\(file.output)")

            let result = try run([executable.path])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output == "dlsym(eventfd): nil\nioeventfd count: 1\nirqfd signalled\n")
        }
    }
}

/// The compiler and the products of the build that built these tests: its module folder and the
/// object files of each target, found from the test binary (`<scratch>/<triple>/<configuration>/…xctest`).
struct BuildProducts {
    let swiftc: String
    let products: URL

    static func locate() throws -> BuildProducts {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let products = URL(fileURLWithPath: executable).deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: products.appendingPathComponent("Modules/KVM.swiftmodule").path) else {
            throw GuestFailure("no Modules/KVM.swiftmodule next to the test binary (\(products.path))")
        }
        let swiftc = ProcessInfo.processInfo.environment["KVM_ORACLE_SWIFTC"].flatMap { $0.isEmpty ? nil : $0 } ?? "swiftc"
        return BuildProducts(swiftc: swiftc, products: products)
    }

    /// `-I Modules` and the module maps of the C modules the runtime's interface imports.
    var moduleFlags: [String] {
        let checkouts = products.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("checkouts")
        let system = checkouts.appendingPathComponent("swift-system/Sources/CSystem/include")
        return ["-I", products.appendingPathComponent("Modules").path,
                "-Xcc", "-fmodule-map-file=\(products.appendingPathComponent("CKVMShims.build/module.modulemap").path)",
                "-Xcc", "-fmodule-map-file=\(system.appendingPathComponent("module.modulemap").path)",
                "-Xcc", "-I", "-Xcc", system.path]
    }

    /// The object files the build compiled for the current sources of `targets` (not every `.o` in
    /// the folder: files of deleted sources stay there until a clean build).
    func objects(of targets: [String]) throws -> [String] {
        let checkouts = products.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("checkouts")
        let cSources = [
            "CKVMShims": URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources/CKVMShims"),
            "CSystem": checkouts.appendingPathComponent("swift-system/Sources/CSystem"),
        ]
        return try targets.flatMap { target -> [String] in
            let folder = products.appendingPathComponent("\(target).build")
            if let sources = cSources[target] {
                // A C target: one `<file>.c.o` per `.c` file of its sources.
                let files = try FileManager.default.contentsOfDirectory(atPath: sources.path).filter { $0.hasSuffix(".c") }.sorted()
                return files.map { folder.appendingPathComponent("\($0).o").path }
            }
            // A Swift target: the objects its output file map names.
            let map = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("output-file-map.json")))
            guard let entries = map as? [String: [String: String]] else { throw GuestFailure("unreadable output file map of \(target)") }
            let objects = entries.values.compactMap { $0["object"] }.sorted()
            guard !objects.isEmpty else { throw GuestFailure("no object files for \(target) in \(folder.path)") }
            return objects
        }
    }
}

/// Runs a command; returns its exit status and its standard output and error, interleaved.
func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0].hasPrefix("/") ? arguments[0] : "/usr/bin/env")
    process.arguments = arguments[0].hasPrefix("/") ? Array(arguments.dropFirst()) : arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
