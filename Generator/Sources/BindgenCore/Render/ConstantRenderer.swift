/// Renders constants as typed groups and `KVMConstants` (the "render" stage for constants).
struct ConstantRenderer {
    struct Output {
        var source: SwiftSource
        /// C name → Swift expression evaluating to its integer value.
        var expressions: [String: String]
    }

    func render(_ constants: [Constant]) throws(BindgenError) -> Output {
        var source = SwiftSource()
        var expressions: [String: String] = [:]
        var grouped: [String: [Constant]] = [:]
        var ungrouped: [Constant] = []
        for constant in constants {
            if let group = ConstantGroups.group(of: constant.name) {
                grouped[group.typeName, default: []].append(constant)
            } else {
                ungrouped.append(constant)
            }
        }
        for group in ConstantGroups.all {
            guard let members = grouped[group.typeName] else { continue }
            try renderGroup(group, members, into: &source, expressions: &expressions)
            source.line()
        }
        source.line("/// Every other integer constant of the KVM headers, with the C type clang gave it.")
        source.block("public enum KVMConstants") { body in
            var used: Set<String> = []
            for constant in ungrouped {
                var name = SwiftNames.camelCase(Self.strippedName(constant.name))
                while !used.insert(name).inserted { name += "_" }
                let escaped = SwiftNames.escape(name)
                body.documentation(Self.documentation(constant))
                body.line("@inlinable public static var \(escaped): \(Self.swiftType(cType: constant.cType)) { \(Self.literal(constant.value, hex: false)) }")
                expressions[constant.name] = "KVMConstants.\(escaped)"
            }
        }
        return Output(source: source, expressions: expressions)
    }

    private func renderGroup(
        _ group: ConstantGroup, _ members: [Constant], into source: inout SwiftSource, expressions: inout [String: String]
    ) throws(BindgenError) {
        let isFlags = group.kind == .flags
        source.documentation([
            group.summary, "",
            isFlags
                ? "An option set over the header's `\(group.prefix)*` bits; bits the header does not name are kept."
                : "Open: values the header does not name (from newer kernels) are kept, never trapped.",
        ])
        let conformances = isFlags ? "OptionSet, Hashable, Sendable" : "RawRepresentable, Hashable, Sendable, CustomStringConvertible"
        source.block("public struct \(group.typeName): \(conformances)") { body in
            body.line("public var rawValue: \(group.rawType)")
            body.line("@inlinable public init(rawValue: \(group.rawType)) { self.rawValue = rawValue }")
            var used: Set<String> = []
            var named: [(Int128, String)] = []
            for constant in members {
                var name = SwiftNames.camelCase(String(constant.name.dropFirst(group.prefix.count)))
                while !used.insert(name).inserted || SwiftNames.reservedMemberNames.contains(name) { name += "_" }
                let escaped = SwiftNames.escape(name)
                body.line()
                body.documentation(Self.documentation(constant))
                body.line("@inlinable public static var \(escaped): \(group.typeName) { \(group.typeName)(rawValue: \(Self.literal(constant.value, hex: isFlags))) }")
                expressions[constant.name] = "\(group.typeName).\(escaped).rawValue"
                named.append((constant.value, constant.name))
            }
            if !isFlags {
                body.line()
                body.line("/// The C name of this value, when the header names it.")
                body.block("public var cName: String?") { getter in
                    getter.line("switch rawValue {")
                    var seen: Set<Int128> = []
                    for (value, name) in named where seen.insert(value).inserted {
                        getter.line("case \(Self.literal(value, hex: false)): \"\(name)\"")
                    }
                    getter.line("default: nil")
                    getter.line("}")
                }
                body.line()
                body.line("public var description: String { cName ?? \"\(group.typeName)(rawValue: \\(rawValue))\" }")
            }
        }
        for constant in members {
            guard Self.fits(constant.value, in: group.rawType) else {
                throw .overrideMismatch("\(constant.name) = \(constant.value) does not fit \(group.typeName)'s \(group.rawType)")
            }
        }
    }

    static func documentation(_ constant: Constant) -> [String] {
        var lines = String.lines(of: constant.comment)
        if !lines.isEmpty { lines.append("") }
        let definition = constant.definition.map { " (`#define \(constant.name) \($0)`)" } ?? " (enumerator)"
        lines.append("C: `\(constant.name)` = \(constant.value)\(definition), \(constant.location).")
        return lines
    }

    static func strippedName(_ name: String) -> String {
        for prefix in ["KVM_", "kvm_", "__KVM_"] where name.hasPrefix(prefix) && name.count > prefix.count {
            return String(name.dropFirst(prefix.count))
        }
        return name
    }

    static func swiftType(cType: String) -> String {
        switch cType {
        case "int": "Int32"
        case "unsigned int": "UInt32"
        case "long": "Int"
        case "unsigned long": "UInt"
        case "long long": "Int64"
        case "unsigned long long": "UInt64"
        case "short": "Int16"
        case "unsigned short": "UInt16"
        case "char", "signed char": "Int8"
        case "unsigned char": "UInt8"
        default: "Int64"
        }
    }

    static func literal(_ value: Int128, hex: Bool) -> String {
        guard hex, value >= 0 else { return String(value) }
        return "0x" + String(value, radix: 16)
    }

    static func fits(_ value: Int128, in rawType: String) -> Bool {
        switch rawType {
        case "UInt8": UInt8(exactly: value) != nil
        case "UInt16": UInt16(exactly: value) != nil
        case "UInt32": UInt32(exactly: value) != nil
        case "UInt64": UInt64(exactly: value) != nil
        case "Int32": Int32(exactly: value) != nil
        default: Int64(exactly: value) != nil
        }
    }
}
