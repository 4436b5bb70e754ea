/// The parsed header, independent of C and of Swift: the middle of parse → model → render.
public struct BindingModel: Codable, Equatable, Sendable {
    public var header: HeaderInfo
    public var triple: TargetTriple
    public var records: [Record]
    public var constants: [Constant]
    public var ioctls: [Ioctl]
    /// Macros (and records) of the header that are not bound on this architecture, each with the reason.
    public var skipped: [SkippedDeclaration]
}

/// A declaration the generator saw but cannot bind for this target: an s390 ioctl whose argument
/// struct only exists in s390's `asm/kvm.h`, a macro whose body is not an integer, or a macro or
/// record defined only in a preprocessor block inactive for this target.
public struct SkippedDeclaration: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case ioctl, constant, record }
    /// The macro's name, or the record's C name (`struct kvm_x86_mce`).
    public var name: String
    public var kind: Kind
    public var reason: String
    public var location: SourceLocation
}

/// Which headers the model came from, by content only: nothing a registry can change without changing
/// the files (no package version, no download date) goes in, so the output is a function of the headers'
/// content, the target and the generator.
public struct HeaderInfo: Codable, Equatable, Sendable {
    /// The main header, relative to the include directory (`linux/kvm.h`).
    public var path: String
    /// Name of the pinned set (`trixie`), `custom` for `--include` directories, or `host` for `/usr/include`.
    public var set: String
    /// Every file clang opened to parse the main header, relative to the include directory that holds it,
    /// sorted, each with its sha256 (filled in by the parser).
    public var files: [HeaderFile]
    /// The checksum of those files: `cd include && sha256sum FILE... | sha256sum` with the files in `files`'
    /// order, the same as headers/sets.json records for a pinned set.
    public var sha256: String

    public init(path: String, set: String, files: [HeaderFile] = [], sha256: String = "") {
        self.path = path
        self.set = set
        self.files = files
        self.sha256 = sha256
    }
}

/// One header file the bindings depend on.
public struct HeaderFile: Codable, Equatable, Sendable {
    /// Relative to the include directory (`asm-generic/int-ll64.h`).
    public var path: String
    public var sha256: String

    public init(path: String, sha256: String) {
        self.path = path
        self.sha256 = sha256
    }

    /// `sha256sum`'s output for `files`, hashed: what `sha256sum FILE... | sha256sum` prints.
    public static func checksum(_ files: [HeaderFile]) -> String {
        SHA256.hexDigest(Array(files.map { "\($0.sha256)  \($0.path)\n" }.joined().utf8))
    }
}

/// A position in a header, relative to the include directory.
public struct SourceLocation: Codable, Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var description: String { "\(file):\(line)" }
}

/// A C struct or union.
public struct Record: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case `struct`, union }
    /// The tag (`kvm_regs`), or nil for an anonymous or inline-declared record.
    public var tag: String?
    public var kind: Kind
    public var size: Int
    public var alignment: Int
    public var members: [Member]
    public var location: SourceLocation
    public var comment: String?

    public var cName: String { "\(kind.rawValue) \(tag ?? "(anonymous)")" }
}

/// One member of a record: a field, a bitfield, an anonymous struct/union, or a flexible array.
public struct Member: Codable, Equatable, Sendable {
    /// Nil for an anonymous struct or union member.
    public var name: String?
    public var type: CType
    public var offsetInBits: Int
    /// Set for bitfields.
    public var bitWidth: Int?
    public var location: SourceLocation
    public var comment: String?

    public var byteOffset: Int { offsetInBits / 8 }
}

/// A C type as far as layout and Swift spelling need it.
public indirect enum CType: Codable, Equatable, Sendable {
    case integer(size: Int, signed: Bool)
    case floatingPoint(size: Int)
    case bool
    case pointer(size: Int)
    /// A record defined elsewhere with a tag: refers to it by tag.
    case namedRecord(tag: String, kind: Record.Kind, size: Int, alignment: Int)
    /// A record declared inline (anonymous, or `struct { ... } name;`).
    case inlineRecord(Record)
    case array(element: CType, count: Int)
    /// A flexible array member (`T name[]`).
    case flexibleArray(element: CType)

    public var size: Int {
        switch self {
        case .integer(let size, _), .floatingPoint(let size), .pointer(let size): size
        case .bool: 1
        case .namedRecord(_, _, let size, _): size
        case .inlineRecord(let record): record.size
        case .array(let element, let count): element.size * count
        case .flexibleArray: 0
        }
    }

    public var alignment: Int {
        switch self {
        case .integer(let size, _), .floatingPoint(let size), .pointer(let size): size
        case .bool: 1
        case .namedRecord(_, _, _, let alignment): alignment
        case .inlineRecord(let record): record.alignment
        case .array(let element, _), .flexibleArray(let element): element.alignment
        }
    }
}

/// An integer constant: an object-like macro or an enumerator.
public struct Constant: Codable, Equatable, Sendable {
    public var name: String
    public var value: Int128
    /// The C type clang gave the expression (e.g. `int`, `unsigned long long`).
    public var cType: String
    /// The macro's body as written, for the documentation; nil for enumerators.
    public var definition: String?
    public var location: SourceLocation
    public var comment: String?
}

/// An ioctl request macro (`_IO`, `_IOR`, `_IOW`, `_IOWR`).
public struct Ioctl: Codable, Equatable, Sendable {
    public enum Direction: String, Codable, Sendable, CaseIterable {
        case none, read, write, readWrite
    }
    public var name: String
    public var request: UInt64
    /// The direction the header's macro encodes.
    public var headerDirection: Direction
    /// The argument type as declared in the macro (`struct kvm_regs`, `__u64`), or nil for `_IO`.
    public var argumentSpelling: String?
    public var argument: CType?
    public var definition: String
    public var location: SourceLocation
    public var comment: String?
}
