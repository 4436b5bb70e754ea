import CClang

/// A thin, value-typed view of a libclang cursor with the queries the parser needs.
struct ClangCursor {
    let raw: CXCursor

    var kind: CXCursorKind { clang_getCursorKind(raw) }
    var spelling: String { clang_getCursorSpelling(raw).consumed() }
    var type: ClangType { ClangType(raw: clang_getCursorType(raw)) }
    var isDefinition: Bool { clang_isCursorDefinition(raw) != 0 }
    var isAnonymous: Bool { clang_Cursor_isAnonymous(raw) != 0 }
    var isAnonymousRecordDecl: Bool { clang_Cursor_isAnonymousRecordDecl(raw) != 0 }
    var isBitField: Bool { clang_Cursor_isBitField(raw) != 0 }
    var bitWidth: Int { Int(clang_getFieldDeclBitWidth(raw)) }
    var offsetOfFieldInBits: Int { Int(clang_Cursor_getOffsetOfField(raw)) }
    var isMacroFunctionLike: Bool { clang_Cursor_isMacroFunctionLike(raw) != 0 }
    var isRecordDecl: Bool { kind == CXCursor_StructDecl || kind == CXCursor_UnionDecl }
    var enumConstantValue: Int64 { clang_getEnumConstantDeclValue(raw) }
    var enumConstantUnsignedValue: UInt64 { clang_getEnumConstantDeclUnsignedValue(raw) }

    /// The file (as libclang names it) and line where the cursor starts.
    var location: (file: String, line: Int) {
        var file: CXFile?
        var line: UInt32 = 0
        clang_getExpansionLocation(clang_getCursorLocation(raw), &file, &line, nil, nil)
        let name = file.map { clang_getFileName($0).consumed() } ?? ""
        return (name, Int(line))
    }

    /// The direct children, in source order.
    var children: [ClangCursor] {
        var result: [ClangCursor] = []
        withUnsafeMutablePointer(to: &result) { resultPointer in
            _ = clang_visitChildren(raw, { child, _, context in
                // SAFETY: `context` is the address of `result`, which outlives this synchronous visit.
                context!.assumingMemoryBound(to: [ClangCursor].self).pointee.append(ClangCursor(raw: child))
                return CXChildVisit_Continue
            }, resultPointer)
        }
        return result
    }

    /// Evaluates a constant initializer (a variable declaration) with clang's own evaluator.
    func evaluateInteger() -> ClangInteger? {
        guard let result = clang_Cursor_Evaluate(raw) else { return nil }
        defer { clang_EvalResult_dispose(result) }
        guard clang_EvalResult_getKind(result) == CXEval_Int else { return nil }
        if clang_EvalResult_isUnsignedInt(result) != 0 {
            return ClangInteger(unsigned: clang_EvalResult_getAsUnsigned(result))
        }
        return ClangInteger(signed: clang_EvalResult_getAsLongLong(result))
    }
}

/// An integer evaluated by clang, keeping its signedness.
struct ClangInteger: Equatable {
    let value: Int128
    init(unsigned: UInt64) { value = Int128(unsigned) }
    init(signed: Int64) { value = Int128(signed) }
}

/// A libclang type with the layout queries the parser needs.
struct ClangType {
    let raw: CXType

    var kind: CXTypeKind { raw.kind }
    var spelling: String { clang_getTypeSpelling(raw).consumed() }
    var canonical: ClangType { ClangType(raw: clang_getCanonicalType(raw)) }
    var size: Int { Int(clang_Type_getSizeOf(raw)) }
    var alignment: Int { Int(clang_Type_getAlignOf(raw)) }
    var declaration: ClangCursor { ClangCursor(raw: clang_getTypeDeclaration(raw)) }
    var arrayElement: ClangType { ClangType(raw: clang_getArrayElementType(raw)) }
    var arrayCount: Int { Int(clang_getArraySize(raw)) }
    var enumIntegerType: ClangType { ClangType(raw: clang_getEnumDeclIntegerType(clang_getTypeDeclaration(raw))) }

    /// Byte offset of a (possibly nested anonymous) member, or nil when clang cannot tell.
    func offsetInBits(of member: String) -> Int? {
        let value = clang_Type_getOffsetOf(raw, member)
        return value < 0 ? nil : Int(value)
    }
}

extension ClangCursor {
    /// For a typedef declaration: the type it names.
    var typedefUnderlyingType: ClangType { ClangType(raw: clang_getTypedefDeclUnderlyingType(raw)) }
}
