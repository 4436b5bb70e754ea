import Foundation
import CClang

/// Parses a KVM header set into a `BindingModel` (the "parse" stage of parse → model → render).
public struct HeaderParser {
    public var includeDirectories: [String]
    public var mainHeader: String
    public var boundFiles: Set<String>
    public var triple: TargetTriple
    public var headerInfo: HeaderInfo

    public init(
        includeDirectories: [String], mainHeader: String = "linux/kvm.h",
        boundFiles: Set<String> = ["linux/kvm.h", "asm/kvm.h"], triple: TargetTriple, headerInfo: HeaderInfo
    ) {
        self.includeDirectories = includeDirectories
        self.mainHeader = mainHeader
        self.boundFiles = boundFiles
        self.triple = triple
        self.headerInfo = headerInfo
    }

    var clangArguments: [String] {
        ["-x", "c", "-std=gnu11", "-target", triple.triple, "-nostdinc", "-fparse-all-comments",
         "-Wno-everything"] + includeDirectories.flatMap { ["-isystem", $0] }
    }

    public func parse() throws(BindgenError) -> BindingModel {
        let files = try SourceFiles(includeDirectories: includeDirectories, boundFiles: boundFiles)
        let unit = try TranslationUnit(
            source: "#include <\(mainHeader)>\n", fileName: "kvm-bindgen-input.c", arguments: clangArguments)
        var headerInfo = headerInfo
        headerInfo.files = try Self.headerFiles(opened: unit.includedFiles(), files: files)
        headerInfo.sha256 = HeaderFile.checksum(headerInfo.files)
        let recordParser = RecordParser(files: files)
        let records = try recordParser.records(in: unit)
        let macroParser = MacroParser(files: files)
        let definitions = macroParser.definitions(in: unit)
        let enumerators = macroParser.enumerators(in: unit, parser: recordParser)

        let evaluation = try TranslationUnit(
            source: MacroParser.evaluationSource(mainHeader: mainHeader, definitions: definitions),
            fileName: "kvm-bindgen-evaluate.c", arguments: clangArguments, allowErrors: true)
        var variables: [String: ClangCursor] = [:]
        for cursor in evaluation.cursor.children
        where cursor.kind == CXCursor_VarDecl || cursor.kind == CXCursor_TypedefDecl {
            let name = cursor.spelling
            if name.hasPrefix("__kvmbg_") { variables[name] = cursor }
        }

        var constants: [Constant] = []
        var ioctls: [Ioctl] = []
        var skipped: [SkippedDeclaration] = []
        for (index, definition) in definitions.enumerated() {
            let written = MacroParser.joinTokens(definition.body)
            var comment = files.comment(at: definition.location)
            if let text = comment?.lowercased(), text.hasPrefix("ioctls for") || text.hasPrefix("ioctl for") {
                comment = nil  // a section heading, not documentation of this ioctl
            }
            if definition.isIoctl {
                guard let request = variables["__kvmbg_req_\(index)"]?.evaluateInteger(),
                    let direction = variables["__kvmbg_dir_\(index)"]?.evaluateInteger()
                else {
                    let reason = "clang cannot evaluate `\(written)` for \(triple.triple) (argument type not defined there)"
                    skipped.append(SkippedDeclaration(name: definition.name, kind: .ioctl, reason: reason, location: definition.location))
                    continue
                }
                var argument: CType?
                if let typedef = variables["__kvmbg_arg_\(index)"] {
                    argument = try recordParser.cType(typedef.typedefUnderlyingType, context: definition.name)
                }
                ioctls.append(
                    Ioctl(
                        name: definition.name, request: UInt64(request.value),
                        headerDirection: Self.direction(ioctlDir: Int(direction.value)),
                        argumentSpelling: definition.ioctlArgumentSpelling, argument: argument,
                        definition: written, location: definition.location, comment: comment))
            } else if let variable = variables["__kvmbg_val_\(index)"], let value = variable.evaluateInteger() {
                var cType = variable.type.canonical.spelling
                if cType.hasPrefix("const ") { cType.removeFirst(6) }
                constants.append(
                    Constant(
                        name: definition.name, value: value.value, cType: cType, definition: written,
                        location: definition.location, comment: comment))
            } else {
                let reason = "`\(written)` is not an integer constant expression for \(triple.triple)"
                skipped.append(SkippedDeclaration(name: definition.name, kind: .constant, reason: reason, location: definition.location))
            }
        }
        // `#define KVM_DEV_TYPE_X KVM_DEV_TYPE_X` re-exports an enumerator for #ifdef: one constant, not two.
        let enumeratorNames = Set(enumerators.map(\.name))
        constants.removeAll { constant in
            guard constant.definition == constant.name, enumeratorNames.contains(constant.name) else { return false }
            let reason = "`\(constant.name)` names the enumerator of the same name (bound once, as the enumerator)"
            skipped.append(SkippedDeclaration(name: constant.name, kind: .constant, reason: reason, location: constant.location))
            return true
        }
        // What is declared only in a block the preprocessor skips for this target (`#ifdef __KVM_HAVE_PIT`
        // on arm64) is not bound; it is listed, so that the manifest accounts for every definition.
        var accounted = Set(definitions.map(\.name)).union(enumeratorNames).union(records.map(\.cName))
        for inactive in InactiveBlocks(files: files, unit: unit).declarations {
            let (name, kind, written): (String, SkippedDeclaration.Kind, String) =
                switch inactive.kind {
                case .macro(let definition):
                    (definition.name, definition.isIoctl ? .ioctl : .constant, MacroParser.joinTokens(definition.body))
                case .record(let record): (record, .record, record)
                }
            guard accounted.insert(name).inserted else { continue }
            let reason = "`\(written)` is only defined in a block inactive for \(triple.triple) (`\(inactive.condition)`)"
            skipped.append(SkippedDeclaration(name: name, kind: kind, reason: reason, location: inactive.location))
        }
        constants.append(contentsOf: enumerators)
        constants.sort { ($0.location.file, $0.location.line, $0.name) < ($1.location.file, $1.location.line, $1.name) }
        return BindingModel(
            header: headerInfo, triple: triple, records: records, constants: constants, ioctls: ioctls,
            skipped: skipped)
    }

    /// The files clang opened for the main header, relative to the include directory that resolves each,
    /// sorted (byte order, as `LC_ALL=C sort`), with their sha256. The in-memory input file is left out.
    /// With `-nostdinc` nothing else can be opened, so a file outside every include directory is an error.
    static func headerFiles(opened: [String], files: SourceFiles) throws(BindgenError) -> [HeaderFile] {
        var result: [String: HeaderFile] = [:]
        for path in opened where !path.hasSuffix("kvm-bindgen-input.c") {
            guard let relative = files.includeRelativePath(path) else {
                throw .headerNotFound("\(path) was opened but lies outside the include directories")
            }
            guard let bytes = FileManager.default.contents(atPath: path) else { throw .headerNotFound(path) }
            result[relative] = HeaderFile(path: relative, sha256: SHA256.hexDigest(bytes))
        }
        return result.values.sorted { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) }
    }

    /// The evaluation source encodes `_IOC_DIR` as (read ? 2 : 0) | (write ? 1 : 0), computed by clang
    /// from the architecture's own `_IOC_READ` and `_IOC_WRITE`.
    static func direction(ioctlDir: Int) -> Ioctl.Direction {
        switch ioctlDir {
        case 1: .write
        case 2: .read
        case 3: .readWrite
        default: .none
        }
    }
}
