import BindgenCore
import Foundation

/// Runs the generator on a small header written as `linux/kvm.h` (with an empty `asm/kvm.h`) in a
/// temporary include directory, in front of the host's kernel headers for `linux/types.h` and friends.
enum SnippetHarness {
    static let snippetsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Snippets").path

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "kvm-bindgen-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func includeDirectory(for header: String) throws -> String {
        let directory = try temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory + "/linux", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/asm", withIntermediateDirectories: true)
        try header.write(toFile: directory + "/linux/kvm.h", atomically: true, encoding: .utf8)
        try "".write(toFile: directory + "/asm/kvm.h", atomically: true, encoding: .utf8)
        return directory
    }

    static func parser(for header: String) throws -> HeaderParser {
        let directory = try includeDirectory(for: header)
        return HeaderParser(
            includeDirectories: [directory, "/usr/include/x86_64-linux-gnu", "/usr/include"],
            triple: try TargetTriple.named("x86_64"),
            headerInfo: HeaderInfo(path: "linux/kvm.h", set: "snippet"))
    }

    static func generate(header: String) throws -> [GeneratedFile] {
        let model = try parser(for: header).parse()
        return try BindingsGenerator(
            model: model, includeDirectoriesForManifest: ["snippet"], regenerateCommand: "(snippet test)"
        ).generate(headerLines: header.split(separator: "\n", omittingEmptySubsequences: false))
    }

    /// The generated Swift (records, constants, ioctls, wrappers) as one text, each file under a MARK.
    /// Files that declare nothing for the snippet (an empty `KVMConstants`, say) are left out. The header
    /// line's file count and checksum cover the host's `linux/types.h` and friends, which differ between
    /// machines, so they read `N files, sha256 (snippet)` here.
    static func swiftText(of files: [GeneratedFile]) -> String {
        files.filter { $0.path.hasPrefix("Sources/") && $0.path.hasSuffix(".swift") && declaresSomething($0.contents) }
            .map { "// MARK: \(($0.path as NSString).lastPathComponent)\n\(hostIndependent($0.contents))" }
            .joined(separator: "\n")
    }

    private static func hostIndependent(_ contents: String) -> String {
        guard let newline = contents.firstIndex(of: "\n") else { return contents }
        let first = contents[..<newline].replacing(/\d+ files, sha256 [0-9a-f]{64}/, with: "N files, sha256 (snippet)")
        return String(first) + contents[newline...]
    }

    private static func declaresSomething(_ contents: String) -> Bool {
        contents.split(separator: "\n").contains { line in
            line.contains("public struct ") || line.contains("public static ") || line.contains("public func ")
                || line.hasPrefix("extension ")
        }
    }
}
