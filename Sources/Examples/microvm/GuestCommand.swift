// What the guest's /init runs: `/microvm/run`, a shell script that execs the command with each argument
// single-quoted, and `/microvm/nonce`, random hex that makes the console markers unforgeable by
// accident. Both go in a newc archive (LinuxLoader's InitramfsArchive) appended to the initrd.

import LinuxLoader

enum GuestCommand {
    /// `word` quoted for sh: inside single quotes everything is literal except `'`, written `'\''`.
    static func quoted(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func script(_ command: [String]) -> String {
        "exec " + command.map(quoted).joined(separator: " ") + "\n"
    }

    /// 16 random bytes from the kernel, as 32 hex digits.
    static func nonce() -> String {
        var generator = SystemRandomNumberGenerator()  // getrandom(2)
        return (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    static func archive(command: [String], nonce: String) throws -> [UInt8] {
        var archive = InitramfsArchive()
        try archive.addDirectory("microvm")
        try archive.addFile("microvm/run", contents: Array(script(command).utf8), mode: 0o755)
        try archive.addFile("microvm/nonce", contents: Array((nonce + "\n").utf8))
        return archive.bytes
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
