import CClang

/// Turns libclang record declarations into model records, with clang's own layout numbers.
struct RecordParser {
    let files: SourceFiles

    /// Every tagged struct or union defined in a bound file, in source order, including tagged
    /// records declared inside other records.
    func records(in unit: TranslationUnit) throws(BindgenError) -> [Record] {
        var result: [Record] = []
        var seen: Set<String> = []
        var pending = unit.cursor.children
        var index = 0
        while index < pending.count {
            let cursor = pending[index]
            index += 1
            guard cursor.isRecordDecl, files.location(of: cursor) != nil else { continue }
            pending.append(contentsOf: cursor.children.filter(\.isRecordDecl))
            guard cursor.isDefinition, !cursor.isAnonymous else { continue }
            let tag = cursor.spelling
            guard seen.insert(tag).inserted else { continue }
            result.append(try record(from: cursor))
        }
        result += try dependencies(of: result, in: unit, known: seen)
        return result.sorted { ($0.location.file, $0.location.line) < ($1.location.file, $1.location.line) }
    }

    /// The records defined outside the bound headers that bound records hold by value, transitively
    /// (arm64's `kvm_regs.regs` is `asm/ptrace.h`'s `struct user_pt_regs`, riscv64's `kvm_riscv_core.regs`
    /// its `struct user_regs_struct`), located in their own header: every type a mirror names is mirrored.
    private func dependencies(of records: [Record], in unit: TranslationUnit, known: Set<String>) throws(BindgenError)
        -> [Record]
    {
        var definitions: [String: ClangCursor] = [:]
        for cursor in unit.cursor.children where cursor.isRecordDecl && cursor.isDefinition && !cursor.isAnonymous {
            if definitions[cursor.spelling] == nil { definitions[cursor.spelling] = cursor }
        }
        var files = self.files
        var known = known
        var result: [Record] = []
        var pending = records.flatMap { $0.members.flatMap { Self.recordTags(in: $0.type) } }
        while let tag = pending.popLast() {
            guard known.insert(tag).inserted else { continue }
            guard let cursor = definitions[tag], let file = files.includeRelativePath(cursor.location.file) else {
                throw .unsupportedConstruct("struct or union \(tag) is used by a bound record but defined nowhere in the include directory")
            }
            try files.addDependency(file)
            let record = try RecordParser(files: files).record(from: cursor)
            result.append(record)
            pending += record.members.flatMap { Self.recordTags(in: $0.type) }
        }
        return result
    }

    /// Tags of the named records a member type holds by value (through arrays and inline records).
    static func recordTags(in type: CType) -> [String] {
        switch type {
        case .namedRecord(let tag, _, _, _): [tag]
        case .inlineRecord(let record): record.members.flatMap { recordTags(in: $0.type) }
        case .array(let element, _), .flexibleArray(let element): recordTags(in: element)
        case .integer, .floatingPoint, .bool, .pointer: []
        }
    }

    func record(from cursor: ClangCursor) throws(BindgenError) -> Record {
        let type = cursor.type
        guard let location = files.location(of: cursor) else {
            throw .unsupportedConstruct("record \(cursor.spelling) is outside the bound headers")
        }
        var members: [Member] = []
        for child in cursor.children {
            if child.isRecordDecl && child.isAnonymousRecordDecl {
                // An anonymous struct/union member: libclang visits its declaration but no field for it.
                let anonymous = try record(from: child)
                guard let offset = anonymousOffset(of: child, in: type) else {
                    throw .unsupportedConstruct("\(cursor.spelling): anonymous member at \(location) has no named field")
                }
                members.append(
                    Member(
                        name: nil, type: .inlineRecord(anonymous), offsetInBits: offset, bitWidth: nil,
                        location: anonymous.location, comment: anonymous.comment))
                continue
            }
            guard child.kind == CXCursor_FieldDecl else { continue }
            let name = child.spelling
            let fieldType = try cType(child.type, context: "\(cursor.spelling).\(name)")
            let memberLocation = files.location(of: child) ?? location
            members.append(
                Member(
                    name: name,
                    type: fieldType,
                    offsetInBits: child.offsetOfFieldInBits,
                    bitWidth: child.isBitField ? child.bitWidth : nil,
                    location: memberLocation,
                    comment: files.comment(at: memberLocation)))
        }
        let kind: Record.Kind = cursor.kind == CXCursor_UnionDecl ? .union : .struct
        return Record(
            tag: cursor.isAnonymous ? nil : cursor.spelling,
            kind: kind,
            size: type.size,
            alignment: type.alignment,
            members: members,
            location: location,
            comment: files.comment(at: location))
    }

    /// The bit offset of an anonymous member inside `parent`: clang gives offsets of the named fields it
    /// contains (looked up through the anonymous member), less their offset inside the member.
    private func anonymousOffset(of anonymous: ClangCursor, in parent: ClangType) -> Int? {
        for child in anonymous.children {
            if child.kind == CXCursor_FieldDecl, !child.spelling.isEmpty,
                let inParent = parent.offsetInBits(of: child.spelling)
            {
                return inParent - child.offsetOfFieldInBits
            }
            if child.isRecordDecl, child.isAnonymousRecordDecl,
                let nested = anonymousOffset(of: child, in: parent),
                let inside = anonymousOffset(of: child, in: anonymous.type)
            {
                return nested - inside
            }
        }
        return nil
    }

    func cType(_ type: ClangType, context: String) throws(BindgenError) -> CType {
        let canonical = type.canonical
        switch canonical.kind {
        case CXType_Char_S, CXType_SChar, CXType_Short, CXType_Int, CXType_Long, CXType_LongLong, CXType_Int128:
            return .integer(size: canonical.size, signed: true)
        case CXType_Char_U, CXType_UChar, CXType_UShort, CXType_UInt, CXType_ULong, CXType_ULongLong,
            CXType_UInt128:
            return .integer(size: canonical.size, signed: false)
        case CXType_Bool:
            return .bool
        case CXType_Float, CXType_Double:
            return .floatingPoint(size: canonical.size)
        case CXType_Pointer:
            return .pointer(size: canonical.size)
        case CXType_Enum:
            return try cType(canonical.enumIntegerType, context: context)
        case CXType_Record:
            let declaration = canonical.declaration
            if declaration.isAnonymous {
                return .inlineRecord(try record(from: declaration))
            }
            let kind: Record.Kind = declaration.kind == CXCursor_UnionDecl ? .union : .struct
            return .namedRecord(
                tag: declaration.spelling, kind: kind, size: canonical.size, alignment: canonical.alignment)
        case CXType_ConstantArray:
            return .array(element: try cType(canonical.arrayElement, context: context), count: canonical.arrayCount)
        case CXType_IncompleteArray:
            return .flexibleArray(element: try cType(canonical.arrayElement, context: context))
        default:
            throw .unsupportedConstruct("\(context): type '\(type.spelling)' (clang kind \(canonical.kind.rawValue))")
        }
    }
}
