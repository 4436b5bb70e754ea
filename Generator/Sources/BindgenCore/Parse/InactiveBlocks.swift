/// What the bound headers declare only inside blocks the preprocessor skipped for this target
/// (`#ifdef __KVM_HAVE_PIT` on arm64): not bound, but listed with the directive that opens the
/// block, so that the manifest accounts for every definition of the header.
struct InactiveBlocks {
    struct Declaration {
        enum Kind { case macro(MacroParser.Definition), record(String) }
        var kind: Kind
        var location: SourceLocation
        /// The directive that opens the skipped block (`#ifdef __KVM_HAVE_PIT`).
        var condition: String
    }

    var declarations: [Declaration] = []

    init(files: SourceFiles, unit: TranslationUnit) {
        for file in files.boundFiles.sorted() {
            guard let path = files.path(of: file), let lines = files.lines(of: file) else { continue }
            for range in unit.skippedLines(in: path) where range.upperBound <= lines.count {
                let condition = lines[range.lowerBound - 1].trimmingCharacters(in: .whitespaces)
                var line = range.lowerBound
                while line <= range.upperBound {
                    let start = line
                    var text = String(lines[line - 1])
                    while text.hasSuffix("\\"), line < range.upperBound {
                        line += 1
                        text = String(text.dropLast()) + " " + lines[line - 1]
                    }
                    line += 1
                    let location = SourceLocation(file: file, line: start)
                    if let match = text.wholeMatch(of: /\s*#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)(\s.*)?/) {
                        let body = match.output.2.map { Self.tokenize(String($0)) } ?? []
                        guard !body.isEmpty else { continue }  // a feature flag, not a number
                        let definition = MacroParser.Definition(name: String(match.output.1), body: body, location: location)
                        declarations.append(Declaration(kind: .macro(definition), location: location, condition: condition))
                    } else if let match = text.firstMatch(of: /\b(struct|union)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{/) {
                        let name = "\(match.output.1) \(match.output.2)"
                        declarations.append(Declaration(kind: .record(name), location: location, condition: condition))
                    }
                }
            }
        }
    }

    /// C tokens, roughly: identifiers and numbers, the two-character operators, and every other
    /// character on its own (enough to join them back and to tell an `_IO*` body); comments are dropped.
    static func tokenize(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            if character == "/", characters.first == "*" {
                while !characters.isEmpty && !(characters.first == "*" && characters.dropFirst().first == "/") { characters.removeFirst() }
                characters = characters.dropFirst(2)
                continue
            }
            if character == "/", characters.first == "/" { break }
            if character.isLetter || character.isNumber || character == "_" {
                current.append(character)
                continue
            }
            if !current.isEmpty { tokens.append(current) }
            current = ""
            if let next = characters.first, ["<<", ">>", "<=", ">=", "==", "!=", "&&", "||"].contains("\(character)\(next)") {
                tokens.append("\(character)\(next)")
                characters.removeFirst()
            } else if !character.isWhitespace {
                tokens.append(String(character))
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }
}
