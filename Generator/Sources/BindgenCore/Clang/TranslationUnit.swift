import Glibc
import CClang

/// A parsed C translation unit. Owns the libclang index and unit; both are released in `deinit`.
final class TranslationUnit {
    private let index: CXIndex?
    let raw: CXTranslationUnit!

    /// Parses `source` (an in-memory file named `fileName`) with the given compiler arguments.
    /// Throws when clang reports an error or fatal diagnostic, unless `allowErrors` is set.
    init(source: String, fileName: String, arguments: [String], allowErrors: Bool = false) throws(BindgenError) {
        let index = clang_createIndex(0, 0)
        self.index = index
        var unit: CXTranslationUnit?
        let options = CXTranslationUnit_DetailedPreprocessingRecord.rawValue
            | CXTranslationUnit_SkipFunctionBodies.rawValue
        let code: CXErrorCode = fileName.withCString { namePointer in
            source.withCString { sourcePointer in
                var unsaved = CXUnsavedFile(
                    Filename: namePointer, Contents: sourcePointer, Length: UInt(source.utf8.count))
                let cArguments = arguments.map { strdup($0) }
                defer { cArguments.forEach { free($0) } }
                var argumentPointers = cArguments.map { UnsafePointer($0) }
                return argumentPointers.withUnsafeMutableBufferPointer { argv in
                    // SAFETY: argv and the unsaved file outlive this synchronous call; clang copies what it keeps.
                    clang_parseTranslationUnit2(
                        index, namePointer, argv.baseAddress, Int32(argv.count), &unsaved, 1, options, &unit)
                }
            }
        }
        guard code == CXError_Success, let unit else {
            clang_disposeIndex(index)
            self.raw = nil
            throw BindgenError.clangFailed("libclang could not parse the input (error code \(code.rawValue))")
        }
        raw = unit
        if !allowErrors {
            let errors = diagnostics(minimumSeverity: CXDiagnostic_Error)
            if !errors.isEmpty {
                throw BindgenError.clangFailed(errors.prefix(10).joined(separator: "\n"))
            }
        }
    }

    deinit {
        if let raw { clang_disposeTranslationUnit(raw) }
        clang_disposeIndex(index)
    }

    var cursor: ClangCursor { ClangCursor(raw: clang_getTranslationUnitCursor(raw)) }

    /// Every file the preprocessor opened for this unit (the in-memory main file included), as clang
    /// spells its path: what the bindings depend on, and so what a pinned header set must contain.
    func includedFiles() -> [String] {
        final class Collector { var paths: [String] = [] }
        let collector = Collector()
        // SAFETY: the context pointer is `collector`, kept alive by `withExtendedLifetime` for the duration of
        // this synchronous call; the visitor only reads the file name clang hands it.
        withExtendedLifetime(collector) {
            clang_getInclusions(
                raw,
                { file, _, _, context in
                    guard let file, let context else { return }
                    let collector = Unmanaged<Collector>.fromOpaque(context).takeUnretainedValue()
                    collector.paths.append(clang_getFileName(file).consumed())
                },
                Unmanaged.passUnretained(collector).toOpaque())
        }
        return collector.paths
    }

    /// Formatted diagnostics at or above `minimumSeverity`.
    func diagnostics(minimumSeverity: CXDiagnosticSeverity) -> [String] {
        var result: [String] = []
        for i in 0..<clang_getNumDiagnostics(raw) {
            guard let diagnostic = clang_getDiagnostic(raw, i) else { continue }
            defer { clang_disposeDiagnostic(diagnostic) }
            if clang_getDiagnosticSeverity(diagnostic).rawValue >= minimumSeverity.rawValue {
                let options = clang_defaultDiagnosticDisplayOptions()
                result.append(clang_formatDiagnostic(diagnostic, options).consumed())
            }
        }
        return result
    }

    /// The line ranges of `path` that the preprocessor skipped (inactive `#if` blocks, directives included).
    func skippedLines(in path: String) -> [ClosedRange<Int>] {
        guard let file = clang_getFile(raw, path), let list = clang_getSkippedRanges(raw, file) else { return [] }
        defer { clang_disposeSourceRangeList(list) }
        // SAFETY: `list` holds `count` ranges until disposed above.
        return (0..<Int(list.pointee.count)).compactMap { index in
            let range = list.pointee.ranges[index]
            var first: UInt32 = 0
            var last: UInt32 = 0
            clang_getSpellingLocation(clang_getRangeStart(range), nil, &first, nil, nil)
            clang_getSpellingLocation(clang_getRangeEnd(range), nil, &last, nil, nil)
            return first >= 1 && first <= last ? Int(first)...Int(last) : nil
        }
    }

    /// The spellings of the tokens a cursor covers (for macro definitions: name, then body).
    func tokens(of cursor: ClangCursor) -> [String] {
        var tokens: UnsafeMutablePointer<CXToken>?
        var count: UInt32 = 0
        clang_tokenize(raw, clang_getCursorExtent(cursor.raw), &tokens, &count)
        guard let tokens else { return [] }
        defer { clang_disposeTokens(raw, tokens, count) }
        // SAFETY: clang_tokenize returned `count` tokens at `tokens`, valid until disposed above.
        return (0..<Int(count)).map { clang_getTokenSpelling(raw, tokens[$0]).consumed() }
    }
}
