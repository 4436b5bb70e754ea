// What boot prints on stderr. The vCPU dump on a guest failure is X86Setup's VCPUStateReport.

import Glibc

enum Messages {
    /// Writes `text` to stderr.
    static func printError(_ text: String) {
        var bytes = Array(text.utf8)
        if bytes.last != 0x0A { bytes.append(0x0A) }
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}

/// `0x…` hexadecimal, zero-padded to `digits`, for boot's messages.
func hex<T: BinaryInteger>(_ value: T, digits: Int = 0) -> String {
    let text = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, digits - text.count)) + text
}
