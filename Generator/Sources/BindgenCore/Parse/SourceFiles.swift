import Foundation

/// The header files being bound, their text (for comments), and path mapping relative to the include directory.
struct SourceFiles {
    /// Include directories, searched in order (a pinned set has one; the host has its multiarch folder too).
    let includeDirectories: [String]
    /// Relative paths (`linux/kvm.h`, `asm/kvm.h`) whose declarations are bound.
    let boundFiles: Set<String>
    /// Other headers that define records a bound record holds by value (arm64's `asm/ptrace.h`):
    /// those records are bound too and located in their own header.
    private(set) var dependencyFiles: Set<String> = []
    private var lines: [String: [Substring]] = [:]

    init(includeDirectories: [String], boundFiles: Set<String>) throws(BindgenError) {
        self.includeDirectories = includeDirectories.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        self.boundFiles = boundFiles
        // In a fixed order, linux/ before asm/: for a missing set the error names linux/kvm.h.
        for file in boundFiles.sorted(by: { ($0.hasPrefix("asm") ? 1 : 0, $0) < ($1.hasPrefix("asm") ? 1 : 0, $1) }) {
            try load(file)
        }
    }

    /// Locates declarations of `file` (a header under the include directories) as well.
    mutating func addDependency(_ file: String) throws(BindgenError) {
        guard !boundFiles.contains(file), dependencyFiles.insert(file).inserted else { return }
        try load(file)
    }

    private mutating func load(_ file: String) throws(BindgenError) {
        guard let path = self.path(of: file), let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .headerNotFound("\(file) in \(includeDirectories.joined(separator: ", "))")
        }
        lines[file] = text.split(separator: "\n", omittingEmptySubsequences: false)
    }

    /// The lines of a bound or dependency file.
    func lines(of file: String) -> [Substring]? { lines[file] }

    /// The absolute path of a relative header path, from the first include directory that has it.
    func path(of file: String) -> String? {
        includeDirectories.map { $0 + "/" + file }.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Maps a libclang file name to a bound (or dependency) relative path, or nil when the file is neither.
    func relativePath(_ file: String) -> String? {
        candidatePaths(URL(fileURLWithPath: file).standardizedFileURL.path).first {
            boundFiles.contains($0) || dependencyFiles.contains($0)
        }
    }

    /// Maps a libclang file name to the path `#include <…>` finds it by (relative to the first include
    /// directory that resolves it), bound or not.
    func includeRelativePath(_ file: String) -> String? {
        let resolved = URL(fileURLWithPath: file).standardizedFileURL.path
        return candidatePaths(resolved).first { path(of: $0) == resolved }
    }

    /// A standardized absolute path relative to each include directory that contains it, in search order.
    private func candidatePaths(_ resolved: String) -> [String] {
        includeDirectories.filter { resolved.hasPrefix($0 + "/") }.map { String(resolved.dropFirst($0.count + 1)) }
    }

    func location(of cursor: ClangCursor) -> SourceLocation? {
        let (file, line) = cursor.location
        guard let relative = relativePath(file) else { return nil }
        return SourceLocation(file: relative, line: line)
    }

    /// The comment that documents the declaration on `location`: the comment block directly above it,
    /// or a trailing comment on the same line. Comment markers are stripped; nil when there is none.
    func comment(at location: SourceLocation) -> String? {
        guard let fileLines = lines[location.file], location.line >= 1, location.line <= fileLines.count else {
            return nil
        }
        let line = String(fileLines[location.line - 1])
        if let trailing = Self.trailingComment(in: line) { return trailing }
        var index = location.line - 2
        guard index >= 0 else { return nil }
        let above = fileLines[index].trimmingCharacters(in: .whitespaces)
        if above.hasPrefix("//") {
            var block: [String] = []
            while index >= 0, fileLines[index].trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                block.insert(String(fileLines[index].trimmingCharacters(in: .whitespaces).dropFirst(2)), at: 0)
                index -= 1
            }
            return Self.clean(block)
        }
        guard above.hasSuffix("*/") else { return nil }
        var block: [String] = []
        while index >= 0 {
            let text = String(fileLines[index])
            block.insert(text, at: 0)
            if text.contains("/*") { break }
            index -= 1
        }
        guard let first = block.first, first.trimmingCharacters(in: .whitespaces).hasPrefix("/*") else { return nil }
        return Self.clean(Self.stripBlockMarkers(block))
    }

    private static func trailingComment(in line: String) -> String? {
        guard let open = line.range(of: "/*"), let close = line.range(of: "*/", range: open.upperBound..<line.endIndex),
            !line[..<open.lowerBound].trimmingCharacters(in: .whitespaces).isEmpty
        else { return nil }
        return clean([String(line[open.upperBound..<close.lowerBound])])
    }

    private static func stripBlockMarkers(_ block: [String]) -> [String] {
        block.map { line in
            var text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("/*") { text.removeFirst(2) }
            if text.hasSuffix("*/") { text.removeLast(2) }
            while text.hasPrefix("*") { text.removeFirst() }
            return text
        }
    }

    private static func clean(_ lines: [String]) -> String? {
        var trimmed = lines.map { $0.trimmingCharacters(in: .whitespaces) }
        while trimmed.first?.isEmpty == true { trimmed.removeFirst() }
        while trimmed.last?.isEmpty == true { trimmed.removeLast() }
        return trimmed.isEmpty ? nil : trimmed.joined(separator: "\n")
    }
}
