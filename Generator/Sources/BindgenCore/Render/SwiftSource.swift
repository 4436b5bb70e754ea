/// A tiny builder for indented Swift source with `///` documentation.
struct SwiftSource {
    private(set) var text = ""
    var indentation = 0

    mutating func line(_ line: String = "") {
        text += line.isEmpty ? "\n" : String(repeating: "    ", count: indentation) + line + "\n"
    }

    mutating func documentation(_ lines: [String]) {
        for line in lines {
            let trimmed = line.trimmingTrailingSpaces
            self.line(trimmed.isEmpty ? "///" : "/// " + trimmed)
        }
    }

    mutating func indented(_ body: (inout SwiftSource) -> Void) {
        indentation += 1
        body(&self)
        indentation -= 1
    }

    mutating func block(_ opening: String, _ body: (inout SwiftSource) -> Void) {
        line(opening + " {")
        indented(body)
        line("}")
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var result = self
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }

    /// Lines of a C comment, ready for `///` (nil comment → no lines). The kernel's comments use
    /// reStructuredText's double backticks for code (``arch_prctl()``), which DocC would read as a
    /// symbol link; they become Markdown's single backticks.
    static func lines(of comment: String?) -> [String] {
        guard let comment else { return [] }
        return comment.replacing("``", with: "`").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
}
