import Foundation

/// The header files being bound, their text (for comments), and path mapping relative to the include directory.
struct SourceFiles {
    /// Include directories, searched in order (a pinned set has one; the host has its multiarch folder too).
    let includeDirectories: [String]
    /// Relative paths (`linux/kvm.h`, `asm/kvm.h`) whose declarations are bound.
    let boundFiles: Set<String>
    private var lines: [String: [Substring]] = [:]

    init(includeDirectories: [String], boundFiles: Set<String>) throws(BindgenError) {
        self.includeDirectories = includeDirectories.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        self.boundFiles = boundFiles
        for file in boundFiles {
            guard let path = self.path(of: file), let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw .headerNotFound("\(file) in \(includeDirectories.joined(separator: ", "))")
            }
            lines[file] = text.split(separator: "\n", omittingEmptySubsequences: false)
        }
    }

    /// The absolute path of a relative header path, from the first include directory that has it.
    func path(of file: String) -> String? {
        includeDirectories.map { $0 + "/" + file }.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Maps a libclang file name to a bound relative path, or nil when the file is not bound.
    func relativePath(_ file: String) -> String? {
        let resolved = URL(fileURLWithPath: file).standardizedFileURL.path
        for directory in includeDirectories where resolved.hasPrefix(directory + "/") {
            let relative = String(resolved.dropFirst(directory.count + 1))
            if boundFiles.contains(relative) { return relative }
        }
        return nil
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
