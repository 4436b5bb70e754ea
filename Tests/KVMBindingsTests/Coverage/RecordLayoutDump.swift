import Foundation

/// clang's own list of every record's members (`-Xclang -fdump-record-layouts-complete`), turned
/// into member designators with the manifest's conventions, so that a member the generator left
/// out of both the manifest and the Swift table is noticed.
///
/// Conventions (those of the manifest): a member of an inline-declared record type is listed and
/// descended into (`io`, `io.port`); an anonymous member is not listed, its members are (C flattens
/// them); an array of inline records is descended into through element 0 (`redirtbl[0].bits`); a
/// member of a named record type (`struct kvm_regs regs`) is a leaf. Flexible array members
/// (`T name[]`, and the GNU `T name[0]` of older headers) are returned apart, and the `__empty_NAME` helpers of `__DECLARE_FLEX_ARRAY` skipped.
struct RecordLayoutDump {
    final class Node {
        var text: String
        var children: [Node] = []
        init(text: String) { self.text = text }

        /// `struct kvm_run::(anonymous at /…/linux/kvm.h:230:2)`: an anonymous member.
        var isAnonymous: Bool { text.hasSuffix(")") }
        var name: String? {
            guard !isAnonymous, let space = text.lastIndex(of: " ") else { return nil }
            return String(text[text.index(after: space)...])
        }
        var type: String {
            guard !isAnonymous, let space = text.lastIndex(of: " ") else { return text }
            return String(text[..<space])
        }
        /// `(unnamed at FILE:LINE:COLUMN)` or `(unnamed union at …)`: the declaration's location.
        var unnamedLocation: String? {
            guard let open = type.range(of: "(unnamed"), let at = type.range(of: " at ", range: open.upperBound..<type.endIndex),
                let close = type.range(of: ")", range: at.upperBound..<type.endIndex)
            else { return nil }
            return String(type[at.upperBound..<close.lowerBound])
        }
    }

    struct Members: Equatable, Sendable {
        var fields: [String] = []
        var flexibleArrays: [String] = []
    }

    /// Top-level records by heading (`struct kvm_regs`, `struct kvm_run::(anonymous at …)`).
    var records: [String: Node] = [:]
    /// Every dumped record declared without a tag, by `FILE:LINE:COLUMN`.
    var unnamed: [String: Node] = [:]

    static func parse(_ dump: String) -> RecordLayoutDump {
        var result = RecordLayoutDump()
        var stack: [(depth: Int, node: Node)] = []
        var root: Node?
        func finish() {
            guard let record = root else { return }
            result.records[record.text] = record
            if let location = record.unnamedLocation {
                result.unnamed[location] = record
            }
            root = nil
            stack = []
        }
        for line in dump.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("*** Dumping AST Record Layout") {
                finish()
                continue
            }
            guard let bar = line.firstIndex(of: "|") else { continue }
            let right = line[line.index(after: bar)...].dropFirst()  // the space after the bar
            guard !right.hasPrefix("["), !right.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            let indent = right.prefix { $0 == " " }.count
            let node = Node(text: right.trimmingCharacters(in: .whitespaces))
            let depth = indent / 2
            if depth == 0 {
                finish()
                root = node
                stack = [(0, node)]
                continue
            }
            while let last = stack.last, last.depth >= depth { stack.removeLast() }
            stack.last?.node.children.append(node)
            stack.append((depth, node))
        }
        finish()
        return result
    }

    /// The designators of `record`'s members, or nil when clang dumped no such record.
    func members(of record: String) -> Members? {
        guard let node = records[record] else { return nil }
        var members = Members()
        walk(node.children, prefix: "", into: &members)
        return members
    }

    private func walk(_ nodes: [Node], prefix: String, into members: inout Members) {
        for node in nodes {
            guard let name = node.name else {
                walk(node.children, prefix: prefix, into: &members)  // anonymous: flattened
                continue
            }
            if name.hasPrefix("__empty_") { continue }
            let designator = prefix + name
            if node.type.hasSuffix("[]") || node.type.hasSuffix("[0]") {
                members.flexibleArrays.append(designator)
                continue
            }
            members.fields.append(designator)
            guard let location = node.unnamedLocation else { continue }  // a named type: a leaf
            let dimensions = node.type.matches(of: /\[[0-9]+\]/).count
            if dimensions == 0 {
                walk(node.children, prefix: designator + ".", into: &members)
            } else if let element = unnamed[location] {
                walk(element.children, prefix: designator + String(repeating: "[0]", count: dimensions) + ".", into: &members)
            }
        }
    }

    /// Runs clang on `#include <header>` and parses the dump: with the include directory alone
    /// (`-nostdinc`), or before the system's headers (`systemHeaders`).
    static func dump(header: String, includeDirectory: URL, triple: String, systemHeaders: Bool = false) throws
        -> RecordLayoutDump
    {
        let directory = try ProcessRunner.temporaryDirectory(prefix: "kvm-layout-dump")
        defer { try? FileManager.default.removeItem(at: directory) }
        try "#include <\(header)>\n".write(to: directory.appendingPathComponent("dump.c"), atomically: true, encoding: .utf8)
        let result = try ProcessRunner.run(
            [CProbeDriver.clang, "-target", triple] + (systemHeaders ? ["-I"] : ["-nostdinc", "-isystem"])
                + [includeDirectory.path, "-std=gnu11", "-fsyntax-only", "-Xclang", "-fdump-record-layouts-complete", "dump.c"],
            in: directory)
        guard result.succeeded else {
            throw CProbeDriver.Failure(
                description: "\(result.command) failed with status \(result.status):\n\(CProbeDriver.excerpt(result.standardError))")
        }
        return parse(result.standardOutput)
    }
}
