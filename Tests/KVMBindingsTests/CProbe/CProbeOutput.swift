/// Parses what the program of `CProbeSource.program(for:)` prints: one fact per line,
/// `kind|subject|member|value` (`-` for no member), bit ranges as `bits|subject|member|lowest|width|count`.
enum CProbeOutput {
    struct ParseError: Error, CustomStringConvertible {
        var line: Int
        var text: String
        var description: String { "C probe output line \(line) is malformed: \(text)" }
    }

    static func parse(_ output: String) throws -> LayoutFacts {
        var facts = LayoutFacts()
        for (index, line) in output.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let parts = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 4, let kind = LayoutKey.Kind(rawValue: parts[0]) else {
                throw ParseError(line: index + 1, text: String(line))
            }
            let key = LayoutKey(kind, parts[1], parts[2] == "-" ? nil : parts[2])
            if kind == .bits {
                guard parts.count == 6, let lowest = Int(parts[3]), let width = Int(parts[4]), let count = Int(parts[5]) else {
                    throw ParseError(line: index + 1, text: String(line))
                }
                facts[key] = .bits(bitRange(lowest: lowest, width: width, count: count))
            } else {
                guard parts.count == 4, let value = Int128(parts[3]) else {
                    throw ParseError(line: index + 1, text: String(line))
                }
                facts[key] = .number(value)
            }
        }
        return facts
    }

    /// The same anomalies as the Swift probe (`BitRange.scan`), so equal layouts compare equal.
    static func bitRange(lowest: Int, width: Int, count: Int) -> BitRange {
        guard lowest >= 0, width > 0 else { return BitRange(offset: -1, width: 0, anomaly: "nothing written") }
        return BitRange(
            offset: lowest, width: width,
            anomaly: count == width ? nil : "only \(count) of the \(width) bits in the range are set")
    }
}
