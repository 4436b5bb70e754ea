import Foundation

/// Reads the compiler's diagnostics for the compile-only probe (`CProbeSource.staticAssertions`).
///
/// clang reports a failed assertion as
///
///     probe_static.c:12:16: error: static assertion failed due to requirement '…': kvmprobe|size|struct kvm_regs|-|145
///     probe_static.c:12:62: note: expression evaluates to '144 == 145'
///
/// and gcc as `error: static assertion failed: "kvmprobe|…"` (without the value).
enum StaticAssertDiagnostics {
    struct Failure: Equatable, Sendable, CustomStringConvertible {
        var key: LayoutKey
        /// The manifest's value, as written into the assertion.
        var expected: String
        /// What the compiler evaluated, when it said.
        var actual: String?

        var description: String { "\(key): manifest \(expected), C \(actual ?? "differs (value not reported)")" }
    }

    struct Report: Sendable {
        var failures: [Failure] = []
        /// Errors that are not failed assertions (an unknown member, a missing header…), with the
        /// assertion they occurred in when the source is known.
        var otherErrors: [String] = []
        var isClean: Bool { failures.isEmpty && otherErrors.isEmpty }
    }

    static func parse(_ diagnostics: String, source: String? = nil) -> Report {
        let sourceLines = source?.split(separator: "\n", omittingEmptySubsequences: false) ?? []
        var report = Report()
        let lines = diagnostics.split(separator: "\n").map(String.init)
        for (index, line) in lines.enumerated() where line.contains(" error: ") || line.hasPrefix("error: ") {
            if let marker = line.range(of: CProbeSource.assertionMarker, options: .backwards) {
                var message = String(line[marker.upperBound...])
                if message.hasSuffix("\"") { message.removeLast() }
                let parts = message.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                guard parts.count == 4, let kind = LayoutKey.Kind(rawValue: parts[0]) else {
                    report.otherErrors.append(line)
                    continue
                }
                let key = LayoutKey(kind, parts[1], parts[2] == "-" ? nil : parts[2])
                var actual: String?
                if index + 1 < lines.count, lines[index + 1].contains("note: expression evaluates to '"),
                    let open = lines[index + 1].range(of: "evaluates to '"),
                    let equals = lines[index + 1].range(of: " == ", range: open.upperBound..<lines[index + 1].endIndex)
                {
                    actual = String(lines[index + 1][open.upperBound..<equals.lowerBound])
                }
                report.failures.append(Failure(key: key, expected: parts[3], actual: actual))
            } else {
                var text = line
                if let lineNumber = sourceLineNumber(in: line), lineNumber >= 1, lineNumber <= sourceLines.count,
                    let marker = sourceLines[lineNumber - 1].range(of: CProbeSource.assertionMarker)
                {
                    let message = sourceLines[lineNumber - 1][marker.upperBound...].prefix { $0 != "\"" }
                    text += "   [in the assertion \(message)]"
                }
                report.otherErrors.append(text)
            }
        }
        return report
    }

    /// `probe_static.c:12:16: error: …` → 12.
    private static func sourceLineNumber(in line: String) -> Int? {
        let parts = line.split(separator: ":", maxSplits: 3)
        guard parts.count >= 3, parts[0].hasSuffix(".c") else { return nil }
        return Int(parts[1])
    }
}
