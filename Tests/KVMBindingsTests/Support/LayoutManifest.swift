import Foundation

/// `Sources/KVMBindings/Generated/<arch>/KVMBindings.manifest.json`, as far as the oracle reads it.
/// Unknown keys are ignored; integers are decoded exactly (no trip through `Double`).
struct LayoutManifest: Decodable, Sendable {
    struct Header: Decodable, Sendable {
        var path: String
        var set: String
        var version: String?
        var sha256: String?
    }

    struct Field: Decodable, Sendable {
        enum Access: String, Decodable, Sendable { case stored, computed, bitfield }
        /// Member designator relative to the record (`io.port`, `redirtbl[0].fields.mask`).
        var c: String
        var swift: String?
        /// Byte offset; for a bitfield the byte holding its first bit.
        var offset: Int
        /// Byte size; nil for bitfields.
        var size: Int?
        var access: Access
        var bitOffset: Int?
        var bitWidth: Int?
        var integer: Bool?

        var isInteger: Bool { integer ?? false }
        var isBitfield: Bool { access == .bitfield }
        var bits: BitRange? {
            guard let bitOffset, let bitWidth else { return nil }
            return BitRange(offset: bitOffset, width: bitWidth)
        }
    }

    struct FlexibleArray: Decodable, Sendable {
        var c: String
        var element: String
        var offset: Int
        var elementSize: Int
    }

    struct Record: Decodable, Sendable {
        var c: String
        var swift: String?
        var size: Int
        var alignment: Int
        var location: String?
        var fields: [Field]
        var flexibleArray: FlexibleArray?
    }

    struct Ioctl: Decodable, Sendable {
        var c: String
        var swift: String?
        var request: UInt64
        var direction: String?
        var headerDirection: String?
        var argument: String?
        var location: String?
    }

    struct Constant: Decodable, Sendable {
        var c: String
        var swift: String?
        var value: Int128
        var location: String?

        enum CodingKeys: String, CodingKey { case c, swift, value, location }

        init(c: String, swift: String? = nil, value: Int128, location: String? = nil) {
            self.c = c
            self.swift = swift
            self.value = value
            self.location = location
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            c = try container.decode(String.self, forKey: .c)
            swift = try container.decodeIfPresent(String.self, forKey: .swift)
            location = try container.decodeIfPresent(String.self, forKey: .location)
            // A constant is any value from Int64.min to UInt64.max: try both exact integer decodings.
            if let unsigned = try? container.decode(UInt64.self, forKey: .value) {
                value = Int128(unsigned)
            } else {
                value = Int128(try container.decode(Int64.self, forKey: .value))
            }
        }
    }

    struct Skipped: Decodable, Sendable {
        enum Kind: String, Decodable, Sendable { case ioctl, constant, record }
        var c: String
        var kind: Kind
        var reason: String?
        var location: String?
    }

    var generator: String?
    var header: Header
    var includeDirectory: String
    /// Every include directory given to the generator (each searched after its multiarch folder, if any).
    var includeDirectories: [String]?
    var triple: String
    var architecture: String
    var structs: [Record]
    var ioctls: [Ioctl]
    var constants: [Constant]
    var skipped: [Skipped]

    static func decode(_ data: Data) throws -> LayoutManifest {
        try JSONDecoder().decode(LayoutManifest.self, from: data)
    }

    static func load(from url: URL) throws -> LayoutManifest {
        try decode(Data(contentsOf: url))
    }

    /// The include directory as an absolute path (the manifest gives it relative to the package root).
    func includeDirectory(packageRoot: URL) -> URL {
        Self.absolute(includeDirectory, packageRoot: packageRoot)
    }

    /// Every include directory, absolute, in search order.
    func includeDirectories(packageRoot: URL) -> [URL] {
        (includeDirectories ?? [includeDirectory]).map { Self.absolute($0, packageRoot: packageRoot) }
    }

    private static func absolute(_ path: String, packageRoot: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : packageRoot.appendingPathComponent(path)
    }
}
