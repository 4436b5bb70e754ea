import Foundation

/// `KVMBindings.manifest.json` read back (what `ManifestRenderer` writes), as far as `diff` and `check`
/// need it. Unknown keys are ignored.
public struct BindingsManifest: Decodable, Sendable {
    public struct Header: Decodable, Sendable {
        public var set: String
        public var sha256: String
    }

    public struct Field: Decodable, Sendable {
        /// Member designator (`io.port`, `redirtbl[0].fields.mask`).
        public var c: String
        public var offset: Int
        public var size: Int?
        /// `stored`, `computed` or `bitfield`.
        public var access: String
        public var bitOffset: Int?
        public var bitWidth: Int?
    }

    public struct FlexibleArray: Decodable, Sendable {
        public var c: String
        public var element: String
        public var offset: Int
    }

    public struct Record: Decodable, Sendable {
        /// `struct kvm_regs`.
        public var c: String
        public var size: Int
        public var alignment: Int
        public var fields: [Field]
        public var flexibleArray: FlexibleArray?
    }

    public struct Ioctl: Decodable, Sendable {
        public var c: String
        public var request: UInt64
        public var direction: String
        public var argument: String?
    }

    public struct Constant: Decodable, Sendable {
        public var c: String
        /// The Swift expression that evaluates to it (`KVMCapability.userMemory2.rawValue`).
        public var swift: String
        public var value: ExactInteger
    }

    /// A declaration of the header that is not bound for this architecture.
    public struct Skipped: Decodable, Sendable {
        public var c: String
        public var kind: String
        public var reason: String
    }

    public var header: Header
    /// Where the headers were parsed from, in search order (absent in manifests before 2026-12).
    public var includeDirectories: [String]?
    public var triple: String
    public var architecture: String
    public var structs: [Record]
    public var ioctls: [Ioctl]
    public var constants: [Constant]
    public var skipped: [Skipped]

    public static func decode(_ data: Data) throws -> BindingsManifest {
        try JSONDecoder().decode(BindingsManifest.self, from: data)
    }

    /// The manifest among generated files.
    public static func decode(from files: [GeneratedFile]) throws -> BindingsManifest {
        guard let file = files.first(where: { $0.path.hasSuffix("/KVMBindings.manifest.json") }) else {
            throw BindgenError.outputFailed("the generated files hold no KVMBindings.manifest.json")
        }
        return try decode(Data(file.contents.utf8))
    }
}

/// A C integer constant from `Int64.min` to `UInt64.max`, read and written as an exact JSON number.
public struct ExactInteger: Codable, Hashable, Sendable, CustomStringConvertible {
    public var value: Int128

    public init(_ value: Int128) { self.value = value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let unsigned = try? container.decode(UInt64.self) {
            value = Int128(unsigned)
        } else {
            value = Int128(try container.decode(Int64.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let signed = Int64(exactly: value) { try container.encode(signed) } else { try container.encode(UInt64(value)) }
    }

    public var description: String { String(value) }
}
