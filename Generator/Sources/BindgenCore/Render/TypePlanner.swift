/// Plans the Swift mirror of a C record so that its size, alignment and every member's offset equal C's.
///
/// Swift lays a struct out in declaration order, each property at the next multiple of its alignment,
/// with no tail padding in `size`. So the planner stores each C member whose offset Swift would reach
/// naturally, inserts explicit padding wherever C pads (including at the tail, so that `size` equals
/// `sizeof`), and reads through accessors whatever Swift cannot place: union members, bitfields,
/// members misaligned by `packed`, and every member of a record whose alignment the stored members
/// would not reproduce (those are stored as an array of words of the record's alignment).
struct TypePlanner {
    let topLevelTag: String

    func plan(record: Record, name: String, qualifiedName: String, cDescription: String) throws(BindgenError)
        -> TypePlan
    {
        var plan = TypePlan(name: name, qualifiedName: qualifiedName, record: record, cDescription: cDescription)
        var items: [(member: Member, property: String, swift: SwiftType, isAnonymous: Bool)] = []
        var typeNames: Set<String> = []
        var flexibleArrays: [(cPath: String, offset: Int, element: CType)] = []

        for member in record.members {
            // A flexible array, or a member holding them, ends the record; other members of size 0
            // (an empty struct: riscv64's `kvm_guest_debug.arch`) are members like any other.
            let flexible = member.type.size == 0 ? Self.flexibleArrays(in: member, baseOffset: 0, prefix: "") : []
            if !flexible.isEmpty {
                flexibleArrays += flexible
                continue
            }
            let property: String
            var nestedName: String
            if let memberName = member.name {
                property = SwiftNames.memberName(memberName)
                nestedName = SwiftNames.typeName(memberName)
            } else {
                let role = AnonymousMemberNames.name(topLevelTag: topLevelTag, firstMember: Self.firstNamedMember(member))
                property = SwiftNames.escape(role)
                nestedName = role.prefix(1).uppercased() + role.dropFirst()
            }
            if case .array = member.type { nestedName += "Element" }
            if ["Type", "Protocol", "Self", "Any"].contains(nestedName) { nestedName += "Value" }
            if nestedName == name { nestedName += "Fields" }
            while !typeNames.insert(nestedName).inserted { nestedName += "_" }
            let swift = try swiftType(
                member.type, nestedName: nestedName, parentQualified: qualifiedName,
                cDescription: "\(cDescription) member `\(member.name ?? "(anonymous)")`")
            items.append((member, property, swift, member.name == nil))
        }
        plan.nested = items.flatMap { Self.nestedPlans(of: $0.swift) }
        plan.flexibleArray = try flexibleArrayPlan(flexibleArrays, record: record)

        if record.kind == .struct, let layout = storedLayout(items.map { ($0.member, $0.property, $0.swift) }, record: record) {
            (plan.stored, plan.computed, plan.members, plan.alignment) = layout
        } else {
            (plan.stored, plan.computed, plan.members, plan.alignment) = rawLayout(
                items.map { ($0.member, $0.property, $0.swift) }, record: record)
        }

        // Members of anonymous members are reachable directly, as in C.
        var used = Set(plan.stored.map(\.name) + plan.computed.map(\.name))
        for item in items where item.isAnonymous {
            guard let nested = item.swift.nestedPlan else { continue }
            let reachable = nested.members.map { ($0.property, $0.swift.spelling, $0.member) }
                + nested.computed.compactMap { property -> (String, String, Member?)? in
                    if case .forward = property.access { return (property.name, property.type, nil) }
                    return nil
                }
            for (memberName, type, member) in reachable where used.insert(memberName).inserted {
                var documentation = member.map { Self.documentation(for: $0) } ?? []
                documentation.append("Reached through the anonymous member `\(SwiftNames.unescaped(item.property))`, as in C.")
                plan.computed.append(
                    ComputedProperty(
                        name: memberName, type: type, access: .forward(path: "\(item.property).\(memberName)"),
                        documentation: documentation))
            }
        }
        return plan
    }

    // MARK: Layout modes

    typealias Layout = (stored: [StoredProperty], computed: [ComputedProperty], members: [PlannedMember], alignment: Int)

    /// Stored members with explicit padding; nil when Swift cannot reproduce C's layout that way.
    private func storedLayout(_ items: [(Member, String, SwiftType)], record: Record) -> Layout? {
        var stored: [StoredProperty] = []
        var computed: [ComputedProperty] = []
        var members: [PlannedMember] = []
        var cursor = 0
        var alignment = 1
        func pad(to offset: Int) {
            guard offset > cursor else { return }
            stored.append(Self.padding(at: cursor, count: offset - cursor))
            cursor = offset
        }
        var index = 0
        while index < items.count {
            let (member, property, swift) = items[index]
            if member.bitWidth != nil {
                var end = index
                while end < items.count, items[end].0.bitWidth != nil { end += 1 }
                let group = items[index..<end]
                let startBit = group.map { $0.0.offsetInBits }.min()!
                let endBit = group.map { $0.0.offsetInBits + $0.0.bitWidth! }.max()!
                let startByte = startBit / 8
                let endByte = (endBit + 7) / 8
                guard startByte >= cursor else { return nil }
                pad(to: startByte)
                let storage = "_bitfield\(startByte)"
                stored.append(
                    StoredProperty(
                        name: storage, type: "InlineArray<\(endByte - startByte), UInt8>", offset: startByte,
                        size: endByte - startByte, alignment: 1, isPublic: false,
                        zeroValue: ".init(repeating: 0)",
                        documentation: ["Storage of the bitfields \(group.map { "`\($0.0.name ?? "")`" }.joined(separator: ", "))."]))
                for (bitMember, bitProperty, bitSwift) in group {
                    computed.append(
                        ComputedProperty(
                            name: bitProperty, type: bitSwift.spelling,
                            access: .bits(
                                storage: storage, bitOffset: bitMember.offsetInBits - startByte * 8,
                                width: bitMember.bitWidth!, signed: bitSwift.isSigned),
                            documentation: Self.documentation(for: bitMember)))
                    members.append(PlannedMember(member: bitMember, property: bitProperty, access: .bitfield, swift: bitSwift))
                }
                cursor = endByte
                index = end
                continue
            }
            let offset = member.byteOffset
            guard offset >= cursor, offset + swift.size <= record.size else { return nil }
            pad(to: offset)
            if offset % swift.alignment == 0 && swift.alignment <= record.alignment {
                stored.append(
                    StoredProperty(
                        name: property, type: swift.spelling, offset: offset, size: swift.size,
                        alignment: swift.alignment, isPublic: true, zeroValue: swift.zeroValue,
                        documentation: Self.documentation(for: member)))
                members.append(PlannedMember(member: member, property: property, access: .stored, swift: swift))
                alignment = max(alignment, swift.alignment)
            } else {
                let storage = "_\(SwiftNames.unescaped(property))Bytes"
                stored.append(
                    StoredProperty(
                        name: storage, type: "InlineArray<\(swift.size), UInt8>", offset: offset, size: swift.size,
                        alignment: 1, isPublic: false, zeroValue: ".init(repeating: 0)",
                        documentation: ["Unaligned storage of `\(member.name ?? "")` (the record is packed)."]))
                computed.append(
                    ComputedProperty(
                        name: property, type: swift.spelling, access: .raw(storage: storage, offset: 0),
                        documentation: Self.documentation(for: member)))
                members.append(PlannedMember(member: member, property: property, access: .computed, swift: swift))
            }
            cursor = offset + swift.size
            index += 1
        }
        pad(to: record.size)
        guard alignment == max(record.alignment, 1) else { return nil }
        return (stored, computed, members, alignment)
    }

    /// The record as an array of words of its alignment, every member read through an accessor.
    private func rawLayout(_ items: [(Member, String, SwiftType)], record: Record) -> Layout {
        var stored: [StoredProperty] = []
        var computed: [ComputedProperty] = []
        var members: [PlannedMember] = []
        let word = Self.wordType(alignment: record.alignment)
        if record.size > 0 {
            stored.append(
                StoredProperty(
                    name: "_storage", type: "InlineArray<\(record.size / record.alignment), \(word)>", offset: 0,
                    size: record.size, alignment: record.alignment, isPublic: false, zeroValue: ".init(repeating: 0)",
                    documentation: [
                        record.kind == .union
                            ? "The union's bytes; every member is read and written through an accessor."
                            : "The record's bytes; Swift cannot reproduce its C alignment with stored members."
                    ]))
        }
        for (member, property, swift) in items {
            if let width = member.bitWidth {
                computed.append(
                    ComputedProperty(
                        name: property, type: swift.spelling,
                        access: .bits(storage: "_storage", bitOffset: member.offsetInBits, width: width, signed: swift.isSigned),
                        documentation: Self.documentation(for: member)))
                members.append(PlannedMember(member: member, property: property, access: .bitfield, swift: swift))
            } else {
                computed.append(
                    ComputedProperty(
                        name: property, type: swift.spelling, access: .raw(storage: "_storage", offset: member.byteOffset),
                        documentation: Self.documentation(for: member)))
                members.append(PlannedMember(member: member, property: property, access: .computed, swift: swift))
            }
        }
        return (stored, computed, members, max(record.alignment, 1))
    }

    static func wordType(alignment: Int) -> String {
        switch alignment {
        case 2: "UInt16"
        case 4: "UInt32"
        case 8: "UInt64"
        case 16: "UInt128"
        default: "UInt8"
        }
    }

    static func padding(at offset: Int, count: Int) -> StoredProperty {
        StoredProperty(
            name: "_padding\(offset)", type: "InlineArray<\(count), UInt8>", offset: offset, size: count, alignment: 1,
            isPublic: false, zeroValue: ".init(repeating: 0)", documentation: ["Padding the C compiler inserts here."])
    }

    // MARK: Types

    func swiftType(_ type: CType, nestedName: String, parentQualified: String, cDescription: String)
        throws(BindgenError) -> SwiftType
    {
        switch type {
        case .integer(let size, let signed):
            let spelling: String
            switch size {
            case 1: spelling = signed ? "Int8" : "UInt8"
            case 2: spelling = signed ? "Int16" : "UInt16"
            case 4: spelling = signed ? "Int32" : "UInt32"
            case 8: spelling = signed ? "Int64" : "UInt64"
            case 16: spelling = signed ? "Int128" : "UInt128"
            default: throw .unsupportedConstruct("\(cDescription): \(size)-byte integer")
            }
            return SwiftType(
                spelling: spelling, size: size, alignment: size, zeroValue: "0", isIntegerLike: true, isSigned: signed)
        case .bool:
            return SwiftType(spelling: "Bool", size: 1, alignment: 1, zeroValue: "false", isIntegerLike: true, isSigned: false)
        case .floatingPoint(let size):
            return SwiftType(
                spelling: size == 4 ? "Float" : "Double", size: size, alignment: size, zeroValue: "0",
                isIntegerLike: false, isSigned: true)
        case .pointer(let size):
            return SwiftType(spelling: "UInt", size: size, alignment: size, zeroValue: "0", isIntegerLike: false, isSigned: false)
        case .namedRecord(let tag, _, let size, let alignment):
            return SwiftType(
                spelling: SwiftNames.typeName(tag), size: size, alignment: alignment, zeroValue: ".init()",
                isIntegerLike: false, isSigned: false)
        case .inlineRecord(let record):
            let qualified = "\(parentQualified).\(nestedName)"
            let nested = try plan(record: record, name: nestedName, qualifiedName: qualified, cDescription: cDescription)
            return SwiftType(
                spelling: qualified, size: record.size, alignment: nested.alignment, zeroValue: ".init()",
                isIntegerLike: false, isSigned: false, nestedPlan: nested)
        case .array(let element, let count):
            let elementType = try swiftType(
                element, nestedName: nestedName, parentQualified: parentQualified, cDescription: cDescription)
            return SwiftType(
                spelling: "InlineArray<\(count), \(elementType.spelling)>", size: elementType.size * count,
                alignment: elementType.alignment, zeroValue: ".init(repeating: \(elementType.zeroValue))",
                isIntegerLike: elementType.isIntegerLike, isSigned: elementType.isSigned,
                arrayElement: (element, SwiftTypeBox(elementType)))
        case .flexibleArray:
            throw .unsupportedConstruct("\(cDescription): flexible array member outside the end of a record")
        }
    }

    static func nestedPlans(of swift: SwiftType) -> [TypePlan] {
        if let plan = swift.nestedPlan { return [plan] }
        if let element = swift.arrayElement { return nestedPlans(of: element.swift.value) }
        return []
    }

    // MARK: Flexible arrays

    static func flexibleArrays(in member: Member, baseOffset: Int, prefix: String) -> [(cPath: String, offset: Int, element: CType)] {
        let offset = baseOffset + member.byteOffset
        let path = member.name.map { prefix + $0 } ?? String(prefix.dropLast())
        switch member.type {
        case .flexibleArray(let element), .array(let element, count: 0):
            // `T name[0]` is the GNU spelling of a flexible array member (the 5.10 and 6.1 headers use it).
            return [(path, offset, element)]
        case .inlineRecord(let record):
            let childPrefix = member.name.map { prefix + $0 + "." } ?? prefix
            return record.members.flatMap { flexibleArrays(in: $0, baseOffset: offset, prefix: childPrefix) }
        default:
            return []
        }
    }

    private func flexibleArrayPlan(_ arrays: [(cPath: String, offset: Int, element: CType)], record: Record)
        throws(BindgenError) -> FlexibleArrayPlan?
    {
        guard let first = arrays.first else { return nil }
        if arrays.count == 1 {
            let element = try swiftType(
                first.element, nestedName: "Element", parentQualified: "", cDescription: "\(record.cName).\(first.cPath)")
            return FlexibleArrayPlan(
                cName: first.cPath, elementType: element.spelling, elementCDescription: Self.cSpelling(first.element),
                offset: first.offset, elementSize: element.size, elementAlignment: element.alignment)
        }
        // Alternatives at one offset (a union of flexible arrays): expose the bytes.
        guard arrays.allSatisfy({ $0.offset == first.offset }) else {
            throw .unsupportedConstruct("\(record.cName): several flexible arrays at different offsets")
        }
        let commonPath = first.cPath.split(separator: ".").dropLast().joined(separator: ".")
        return FlexibleArrayPlan(
            cName: commonPath.isEmpty ? first.cPath : commonPath, elementType: "UInt8",
            elementCDescription: "bytes of " + arrays.map { Self.cSpelling($0.element) }.joined(separator: " or "),
            offset: first.offset, elementSize: 1, elementAlignment: 1)
    }

    static func cSpelling(_ type: CType) -> String {
        switch type {
        case .integer(let size, let signed): "\(signed ? "__s" : "__u")\(size * 8)"
        case .bool: "_Bool"
        case .floatingPoint(let size): size == 4 ? "float" : "double"
        case .pointer: "void *"
        case .namedRecord(let tag, let kind, _, _): "\(kind.rawValue) \(tag)"
        case .inlineRecord(let record): "\(record.kind.rawValue) { ... }"
        case .array(let element, let count): "\(cSpelling(element))[\(count)]"
        case .flexibleArray(let element): "\(cSpelling(element))[]"
        }
    }

    // MARK: Naming and docs

    /// The first named member inside an anonymous member, searching nested anonymous members too.
    static func firstNamedMember(_ member: Member) -> String? {
        guard case .inlineRecord(let record) = member.type else { return member.name }
        for child in record.members {
            if let name = child.name, !name.hasPrefix("__empty_") { return name }
            if child.name == nil, let name = firstNamedMember(child) { return name }
        }
        return nil
    }

    static func documentation(for member: Member) -> [String] {
        var lines = String.lines(of: member.comment)
        if !lines.isEmpty { lines.append("") }
        let what = member.bitWidth.map { "bitfield of \($0) bits at bit \(member.offsetInBits)" }
            ?? "offset \(member.byteOffset)"
        lines.append("C: `\(member.name ?? "(anonymous)")`, \(what) (\(member.location)).")
        return lines
    }
}
