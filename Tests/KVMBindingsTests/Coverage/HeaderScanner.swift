import Foundation

/// A textual scan of C headers, independent of libclang: what the header defines, by name.
///
/// It sees every `#define`, also in `#if` branches the compiler skips; names are sets, so a macro
/// defined in two branches (`KVM_DIRTY_LOG_PAGE_OFFSET`) counts once.
struct HeaderScan: Equatable, Sendable {
    /// Tagged struct and union definitions (`struct kvm_regs`), nested ones too.
    var records: Set<String> = []
    /// `#define NAME _IO(…)`, `_IOR`, `_IOW`, `_IOWR`.
    var ioctls: Set<String> = []
    /// Other object-like macros with a non-empty body.
    var macros: Set<String> = []
    /// Enumerators of every enum.
    var enumerators: Set<String> = []
    /// Object-like macros with an empty body (include guards, feature flags): not constants.
    var emptyMacros: Set<String> = []
    /// Function-like macros (`#define X(a) …`): not constants.
    var functionLikeMacros: Set<String> = []

    var constants: Set<String> { macros.union(enumerators) }

    mutating func formUnion(_ other: HeaderScan) {
        records.formUnion(other.records)
        ioctls.formUnion(other.ioctls)
        macros.formUnion(other.macros)
        enumerators.formUnion(other.enumerators)
        emptyMacros.formUnion(other.emptyMacros)
        functionLikeMacros.formUnion(other.functionLikeMacros)
    }

    static func scan(files: [URL]) throws -> HeaderScan {
        var result = HeaderScan()
        for file in files { result.formUnion(scan(try String(contentsOf: file, encoding: .utf8))) }
        return result
    }

    static func scan(_ text: String) -> HeaderScan {
        var result = HeaderScan()
        var code = ""
        for line in logicalLines(stripComments(text)) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            guard trimmed.hasPrefix("#") else {
                code += line + "\n"
                continue
            }
            guard let define = trimmed.wholeMatch(of: /#[ \t]*define[ \t]+([A-Za-z_][A-Za-z0-9_]*)(.*)/) else { continue }
            let name = String(define.output.1)
            let rest = define.output.2
            if rest.hasPrefix("(") {
                result.functionLikeMacros.insert(name)  // no space before the paren: function-like
                continue
            }
            let body = rest.trimmingCharacters(in: .whitespaces)
            if body.isEmpty {
                result.emptyMacros.insert(name)
            } else if body.prefixMatch(of: /_IO(R|W|WR)?[ \t]*\(/) != nil {
                result.ioctls.insert(name)
            } else {
                result.macros.insert(name)
            }
        }
        for match in code.matches(of: /\b(struct|union)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{/) {
            result.records.insert("\(match.output.1) \(match.output.2)")
        }
        result.enumerators = enumerators(in: code)
        return result
    }

    /// Enumerator names of every `enum [tag] { … }` in `code` (comments and directives removed).
    static func enumerators(in code: String) -> Set<String> {
        var names: Set<String> = []
        for match in code.matches(of: /\benum\b(\s+[A-Za-z_][A-Za-z0-9_]*)?\s*\{/) {
            // The body runs to the matching brace; enumerators are split on top-level commas.
            var depth = 1
            var index = match.range.upperBound
            var body = ""
            while index < code.endIndex {
                let character = code[index]
                if character == "{" { depth += 1 }
                if character == "}" { depth -= 1; if depth == 0 { break } }
                body.append(character)
                index = code.index(after: index)
            }
            var parenDepth = 0
            var item = ""
            for character in body + "," {
                if character == "(" { parenDepth += 1 }
                if character == ")" { parenDepth -= 1 }
                if character == "," && parenDepth == 0 {
                    if let name = item.trimmingCharacters(in: .whitespacesAndNewlines).prefixMatch(of: /[A-Za-z_][A-Za-z0-9_]*/) {
                        names.insert(String(name.output))
                    }
                    item = ""
                } else {
                    item.append(character)
                }
            }
        }
        return names
    }

    /// Removes `/* … */` and `// …` comments, keeping the line breaks inside them (and leaving
    /// string and character literals alone).
    static func stripComments(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        var characters = Array(text.unicodeScalars)[...]
        while let character = characters.popFirst() {
            switch character {
            case "/" where characters.first == "*":
                characters.removeFirst()
                result.unicodeScalars.append(" ")
                while let inner = characters.popFirst() {
                    if inner == "*" && characters.first == "/" {
                        characters.removeFirst()
                        break
                    }
                    if inner == "\n" { result.unicodeScalars.append("\n") }
                }
            case "/" where characters.first == "/":
                while let next = characters.first, next != "\n" { characters.removeFirst() }
            case "\"", "'":
                result.unicodeScalars.append(character)
                while let inner = characters.popFirst() {
                    result.unicodeScalars.append(inner)
                    if inner == "\\", let escaped = characters.popFirst() {
                        result.unicodeScalars.append(escaped)
                    } else if inner == character || inner == "\n" {
                        break
                    }
                }
            default:
                result.unicodeScalars.append(character)
            }
        }
        return result
    }

    /// Physical lines joined where a line ends in a backslash.
    static func logicalLines(_ text: String) -> [String] {
        var lines: [String] = []
        var pending = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var content = Substring(line)
            while content.last == " " || content.last == "\t" || content.last == "\r" { content.removeLast() }
            if content.hasSuffix("\\") {
                pending += content.dropLast() + " "
            } else {
                lines.append(pending + content)
                pending = ""
            }
        }
        if !pending.isEmpty { lines.append(pending) }
        return lines
    }
}
