import Foundation

/// Compiles one architecture's generated Swift on this host, whatever the architecture: the
/// `#if arch(…)` / `#endif` wrapper lines are blanked (so line numbers stay), the bindings are
/// compiled as module `KVMBindings` together with `Sources/KVMBindings/Support`, and the generated
/// `SwiftLayoutTable.<arch>.swift` is type-checked against that module with the test support it uses.
/// Layouts are not measured (this host's `MemoryLayout` is not the target's); names, types and
/// conformances are: what a build on that architecture would reject.
enum SwiftTypeCheck {
    /// The compiler and the flags that find `SystemPackage` (built by the build running these tests).
    struct Toolchain: Sendable {
        var swiftc: String
        var searchFlags: [String]
    }

    /// `$KVM_ORACLE_SWIFTC` (else `swiftc` on PATH) and the build's `Modules` folder and `CSystem`
    /// module map, found from the test binary: `<scratch>/<triple>/<configuration>/…xctest`.
    static let toolchain: Result<Toolchain, CProbeDriver.Failure> = Result {
        let swiftc = ProcessInfo.processInfo.environment["KVM_ORACLE_SWIFTC"].flatMap { $0.isEmpty ? nil : $0 } ?? "swiftc"
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let products = URL(fileURLWithPath: executable).deletingLastPathComponent()
        let modules = products.appendingPathComponent("Modules")
        guard FileManager.default.fileExists(atPath: modules.appendingPathComponent("SystemPackage.swiftmodule").path) else {
            throw CProbeDriver.Failure(description: "no SystemPackage.swiftmodule in \(modules.path) (next to the test binary)")
        }
        let checkouts = products.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("checkouts")
        let candidates = ["swift-system"] + ((try? FileManager.default.contentsOfDirectory(atPath: checkouts.path)) ?? []).sorted()
        guard
            let include = candidates.lazy.map({ checkouts.appendingPathComponent("\($0)/Sources/CSystem/include") })
                .first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("module.modulemap").path) })
        else {
            throw CProbeDriver.Failure(description: "no swift-system checkout with Sources/CSystem/include/module.modulemap in \(checkouts.path)")
        }
        return Toolchain(
            swiftc: swiftc,
            searchFlags: ["-I", modules.path, "-Xcc", "-fmodule-map-file=\(include.path)/module.modulemap", "-Xcc", "-I", "-Xcc", include.path])
    }.mapError { error in error as? CProbeDriver.Failure ?? CProbeDriver.Failure(description: "\(error)") }

    /// The compiler's errors for the bindings generated under `generatedRoot` (a package root), or
    /// none. `work` is a scratch folder; `moduleCache` may be shared by concurrent checks.
    static func check(
        generatedRoot: URL, architecture: String, swiftArchitecture: String, packageRoot: URL, work: URL, moduleCache: URL
    ) throws -> [String] {
        let toolchain = try toolchain.get()
        let common = ["-parse-as-library", "-swift-version", "6", "-wmo", "-diagnostic-style", "llvm", "-module-cache-path",
                      moduleCache.path] + toolchain.searchFlags
        var problems: [String] = []
        let bindings = try unwrappedCopies(
            of: generatedRoot.appendingPathComponent("Sources/KVMBindings/Generated/\(architecture)"),
            swiftArchitecture: swiftArchitecture, into: work.appendingPathComponent("KVMBindings"), problems: &problems)
        let support = try swiftFiles(in: packageRoot.appendingPathComponent("Sources/KVMBindings/Support"))
        let module = work.appendingPathComponent("module")
        try FileManager.default.createDirectory(at: module, withIntermediateDirectories: true)
        let library = try ProcessRunner.run(
            [toolchain.swiftc, "-emit-module", "-emit-module-path", module.appendingPathComponent("KVMBindings.swiftmodule").path,
             "-module-name", "KVMBindings", "-enable-testing"] + common + (bindings + support).map(\.path),
            in: work)
        problems += errors(library, what: "KVMBindings")
        guard library.succeeded else { return problems }
        let table = try unwrappedCopies(
            of: generatedRoot.appendingPathComponent("Tests/KVMBindingsTests/Generated/\(architecture)"),
            swiftArchitecture: swiftArchitecture, into: work.appendingPathComponent("KVMBindingsTests"), problems: &problems)
        let probe = packageRoot.appendingPathComponent("Tests/KVMBindingsTests/Support/LayoutProbe.swift")
        let tests = try ProcessRunner.run(
            [toolchain.swiftc, "-typecheck", "-module-name", "KVMBindingsTests", "-I", module.path] + common
                + (table + [probe]).map(\.path),
            in: work)
        return problems + errors(tests, what: "the layout table")
    }

    /// Copies each Swift file of `directory` into `destination` with its `#if arch(…)` line and its
    /// last `#endif` blanked.
    static func unwrappedCopies(of directory: URL, swiftArchitecture: String, into destination: URL, problems: inout [String])
        throws -> [URL]
    {
        try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: true)
        return try swiftFiles(in: directory).map { file in
            var lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            if let open = lines.firstIndex(of: "#if arch(\(swiftArchitecture))"), let close = lines.lastIndex(of: "#endif"), open < close {
                lines[open] = ""
                lines[close] = ""
            } else {
                problems.append("\(file.lastPathComponent): no `#if arch(\(swiftArchitecture))` … `#endif` wrapper")
            }
            let copy = destination.appendingPathComponent(file.lastPathComponent)
            try lines.joined(separator: "\n").write(to: copy, atomically: true, encoding: .utf8)
            return copy
        }
    }

    private static func swiftFiles(in directory: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".swift") }.sorted()
            .map { directory.appendingPathComponent($0) }
    }

    /// The `error:` lines of a compiler run (at most 30), or its output when it failed without any.
    private static func errors(_ result: ProcessRunner.Result, what: String) -> [String] {
        let output = result.standardError + result.standardOutput
        let lines = output.split(separator: "\n").filter { $0.contains(": error: ") }.map(String.init)
        guard !result.succeeded || !lines.isEmpty else { return [] }
        guard !lines.isEmpty else { return ["\(what): \(result.command) failed (\(result.status)):\n\(CProbeDriver.excerpt(output))"] }
        return lines.prefix(30).map { "\(what): \($0)" } + (lines.count > 30 ? ["\(what): … \(lines.count - 30) more errors"] : [])
    }
}
