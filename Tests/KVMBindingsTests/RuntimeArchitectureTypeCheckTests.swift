import Foundation
import Testing

/// The runtime (`Sources/KVM`) type-checks against the bindings of every architecture, the same way
/// the bindings themselves are checked on this host (`SwiftTypeCheck`): each architecture's generated
/// Swift is compiled as module `KVMBindings` with its `#if arch(…)` wrapper blanked, and the runtime's
/// sources are type-checked against it with their own `#if arch(…)` conditions evaluated for that
/// architecture (the condition is replaced by `true` or `false`, so line numbers stay). x86-only API
/// (CPUID, MSRs, segment registers, the PIT, XSAVE, sync regs, …) sits under `#if arch(x86_64)`; what
/// is left must compile for arm64 and riscv64 too.
@Suite("The runtime type-checks for every architecture of the bindings")
struct RuntimeArchitectureTypeCheckTests {
    static let architectures = ["x86_64", "arm64", "riscv64"]

    @Test(arguments: architectures)
    func runtimeTypeChecks(architecture: String) throws {
        let errors = try Self.typecheckRuntime(for: architecture)
        #expect(errors.isEmpty, "KVM for \(architecture):\n\(errors.joined(separator: "\n"))")
    }

    /// The check can fail: x86-only code outside `#if arch(x86_64)` is rejected for arm64.
    @Test func x86OnlyCodeOutsideTheConditionIsRejectedForArm64() throws {
        let misuse = """
            import KVMBindings
            extension VCPU {
                func codeSegmentBase() throws(KVMRuntimeError) -> UInt64 { try specialRegisters().cs.base }
            }
            """
        let errors = try Self.typecheckRuntime(for: "arm64", extraSource: misuse)
        #expect(errors.contains { $0.contains("specialRegisters") }, "\(errors)")
        #expect(try Self.typecheckRuntime(for: "x86_64", extraSource: misuse).isEmpty)
    }

    /// The `error:` lines of type-checking `Sources/KVM` (plus `extraSource`) for `architecture`.
    static func typecheckRuntime(for architecture: String, extraSource: String? = nil) throws -> [String] {
        let toolchain = try SwiftTypeCheck.toolchain.get()
        let root = PackageLocation.root()
        let work = try ProcessRunner.temporaryDirectory(prefix: "kvm-runtime-\(architecture)")
        defer { try? FileManager.default.removeItem(at: work) }
        let common = ["-parse-as-library", "-swift-version", "6", "-diagnostic-style", "llvm", "-module-cache-path",
                      work.appendingPathComponent("cache").path] + toolchain.searchFlags

        // KVMBindings for the architecture, as SwiftTypeCheck builds it.
        var problems: [String] = []
        let bindings = try SwiftTypeCheck.unwrappedCopies(
            of: root.appendingPathComponent("Sources/KVMBindings/Generated/\(architecture)"), swiftArchitecture: architecture,
            into: work.appendingPathComponent("KVMBindings"), problems: &problems)
        guard problems.isEmpty else { return problems }
        let support = try swiftFiles(under: root.appendingPathComponent("Sources/KVMBindings/Support"))
        let modules = work.appendingPathComponent("modules")
        try FileManager.default.createDirectory(at: modules, withIntermediateDirectories: true)
        let library = try ProcessRunner.run(
            [toolchain.swiftc, "-emit-module", "-emit-module-path", modules.appendingPathComponent("KVMBindings.swiftmodule").path,
             "-module-name", "KVMBindings", "-wmo"] + common + (bindings + support).map(\.path),
            in: work)
        guard library.succeeded else { return ["KVMBindings for \(architecture) did not build:\n\(library.standardError)"] }

        // The C shims, by their header (SwiftPM generates the same module map).
        let shims = modules.appendingPathComponent("CKVMShims.modulemap")
        try "module CKVMShims {\n    header \"\(root.appendingPathComponent("Sources/CKVMShims/include/CKVMShims.h").path)\"\n    export *\n}\n"
            .write(to: shims, atomically: true, encoding: .utf8)

        // The runtime, with `#if arch(…)` evaluated for the architecture.
        let sources = work.appendingPathComponent("KVM")
        try FileManager.default.createDirectory(at: sources, withIntermediateDirectories: true)
        var files: [URL] = []
        for (index, file) in try swiftFiles(under: root.appendingPathComponent("Sources/KVM")).enumerated() {
            var text = try String(contentsOf: file, encoding: .utf8)
            for candidate in architectures {
                text = text.replacingOccurrences(of: "arch(\(candidate))", with: candidate == architecture ? "true" : "false")
            }
            let copy = sources.appendingPathComponent("\(index)-\(file.lastPathComponent)")
            try text.write(to: copy, atomically: true, encoding: .utf8)
            files.append(copy)
        }
        if let extraSource {
            let extra = sources.appendingPathComponent("Extra.swift")
            try extraSource.write(to: extra, atomically: true, encoding: .utf8)
            files.append(extra)
        }
        let result = try ProcessRunner.run(
            [toolchain.swiftc, "-typecheck", "-module-name", "KVM", "-I", modules.path, "-Xcc", "-fmodule-map-file=\(shims.path)"]
                + common + files.map(\.path),
            in: work)
        let output = result.standardError + result.standardOutput
        let errors = output.split(separator: "\n").filter { $0.contains(": error: ") }.map(String.init)
        if !result.succeeded && errors.isEmpty { return ["swiftc failed (\(result.status)):\n\(output)"] }
        return errors
    }

    /// Every `.swift` file under `directory`, recursively, sorted.
    static func swiftFiles(under directory: URL) throws -> [URL] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory.path) else { return [] }
        return enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }.sorted()
            .map { directory.appendingPathComponent($0) }
    }
}
