import Foundation

/// Writes, compiles and runs the C probes.
enum CProbeDriver {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The C compiler for the run-time probe: `$KVM_ORACLE_CC`, else `cc`.
    static var hostCompiler: String {
        ProcessInfo.processInfo.environment["KVM_ORACLE_CC"].flatMap { $0.isEmpty ? nil : $0 } ?? "cc"
    }

    /// The compiler for the compile-only probe: `$KVM_ORACLE_CLANG`, else `clang`.
    static var clang: String {
        ProcessInfo.processInfo.environment["KVM_ORACLE_CLANG"].flatMap { $0.isEmpty ? nil : $0 } ?? "clang"
    }

    /// What the run-time probe measured, and the checks the C compiler rejected (with its error),
    /// which were left out so that one bad designator does not hide every other number.
    struct Measurement: Sendable {
        var facts: LayoutFacts
        var rejected: [LayoutKey: String]
    }

    /// Compiles `CProbeSource.program(for:)` against `includeDirectory`, runs it and parses its output.
    static func measure(_ manifest: LayoutManifest, includeDirectory: URL) throws -> Measurement {
        let directory = try ProcessRunner.temporaryDirectory(prefix: "kvm-layout-oracle")
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("probe.c")
        var rejected: [LayoutKey: String] = [:]
        for _ in 0..<8 {
            let program = CProbeSource.program(for: manifest, excluding: Set(rejected.keys))
            try program.source.write(to: source, atomically: true, encoding: .utf8)
            // -I (not -isystem): the set's linux/ and asm/ win over /usr/include; libc still comes from the system.
            let compile = try ProcessRunner.run(
                [hostCompiler, "-std=gnu11", "-w", "-O0", "-fno-diagnostics-show-caret", "-I", includeDirectory.path, "probe.c",
                 "-o", "probe"],
                in: directory)
            guard compile.succeeded else {
                let errors = compilerErrors(compile.standardError, lineKeys: program.lineKeys)
                guard !errors.isEmpty else {
                    throw Failure(description: "C probe did not compile (\(compile.command)):\n\(excerpt(compile.standardError))")
                }
                rejected.merge(errors) { first, _ in first }
                continue
            }
            let run = try ProcessRunner.run([directory.appendingPathComponent("probe").path], in: directory)
            guard run.succeeded else {
                throw Failure(description: "C probe exited with status \(run.status):\n\(excerpt(run.standardError))")
            }
            return Measurement(facts: try CProbeOutput.parse(run.standardOutput), rejected: rejected)
        }
        throw Failure(description: "C probe still did not compile after leaving out \(rejected.count) checks")
    }

    /// `probe.c:901:104: error: …` on a line that holds a check → that check and the message. An
    /// error reported inside a macro is attributed to the check line of its `note: in expansion of`.
    static func compilerErrors(_ diagnostics: String, lineKeys: [Int: LayoutKey]) -> [LayoutKey: String] {
        var errors: [LayoutKey: String] = [:]
        var pending: String?
        for line in diagnostics.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false)
            guard parts.count == 5, parts[0].hasSuffix("probe.c"), let number = Int(parts[1]) else { continue }
            let severity = parts[3].trimmingCharacters(in: .whitespaces)
            let message = parts[4].trimmingCharacters(in: .whitespaces)
            if severity == "error" {
                pending = message
            } else if severity != "note" {
                continue
            }
            if let key = lineKeys[number], let error = pending {
                if errors[key] == nil { errors[key] = error }
                pending = nil
            }
        }
        return errors
    }

    /// Compiles `CProbeSource.staticAssertions(for:)` with `clang -target <triple> -fsyntax-only`
    /// against `includeDirectory` alone (no libc) and returns the failed assertions and other errors.
    static func checkStatically(_ manifest: LayoutManifest, includeDirectory: URL, triple: String? = nil) throws
        -> StaticAssertDiagnostics.Report
    {
        try checkStatically(source: CProbeSource.staticAssertions(for: manifest), includeDirectory: includeDirectory,
                            triple: triple ?? manifest.triple)
    }

    static func checkStatically(source: String, includeDirectory: URL, triple: String) throws -> StaticAssertDiagnostics.Report {
        let directory = try ProcessRunner.temporaryDirectory(prefix: "kvm-layout-oracle-static")
        defer { try? FileManager.default.removeItem(at: directory) }
        try source.write(to: directory.appendingPathComponent("probe_static.c"), atomically: true, encoding: .utf8)
        let compile = try ProcessRunner.run(
            [clang, "-target", triple, "-nostdinc", "-isystem", includeDirectory.path, "-std=gnu11", "-fsyntax-only",
             "-ferror-limit=0", "-fno-color-diagnostics", "-fno-caret-diagnostics", "probe_static.c"],
            in: directory)
        let report = StaticAssertDiagnostics.parse(compile.standardError, source: source)
        if !compile.succeeded && report.failures.isEmpty && report.otherErrors.isEmpty {
            throw Failure(description: "\(compile.command) failed with status \(compile.status):\n\(excerpt(compile.standardError))")
        }
        return report
    }

    static func excerpt(_ text: String, lines: Int = 60) -> String {
        let all = text.split(separator: "\n", omittingEmptySubsequences: false)
        return all.prefix(lines).joined(separator: "\n") + (all.count > lines ? "\n… (\(all.count - lines) more lines)" : "")
    }
}
