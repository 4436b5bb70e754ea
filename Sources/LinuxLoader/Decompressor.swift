// Decompressing a bzImage's payload on the host, behind a protocol: the loader asks each decompressor it
// was given, in order, whether it reads the payload (by its first bytes), and uses the first that does.
// The built-in ones: LZ4 legacy and gzip (written here in Swift, fuzzed), xz and zstd (Debian's liblzma
// and libzstd). A VMM adds a format by conforming its own type.

/// A decompressor for a bzImage's payload.
public protocol Decompressor: Sendable {
    /// The format's name, as the loader reports it ("xz").
    var name: String { get }
    /// Whether a stream starting with `prefix` (up to 8 bytes) is one this decompressor reads.
    func recognizes(_ prefix: [UInt8]) -> Bool
    /// Decompresses the stream at the start of `input` (bytes after the stream, such as the size the
    /// kernel's build appends, are ignored). Throws rather than produce more than `limit` bytes, and
    /// on malformed input: never traps.
    func decompress(_ input: [UInt8], limit: Int) throws -> [UInt8]
}

/// LZ4 legacy frames (`CONFIG_KERNEL_LZ4`, what Debian's own small kernels use), in Swift.
public struct LZ4LegacyDecompressor: Decompressor {
    public init() {}
    public var name: String { "lz4" }
    public func recognizes(_ prefix: [UInt8]) -> Bool { prefix.starts(with: LZ4Legacy.magicBytes) }
    public func decompress(_ input: [UInt8], limit: Int) throws -> [UInt8] { try LZ4Legacy.decompress(input, limit: limit) }
}

/// gzip (`CONFIG_KERNEL_GZIP`, the kernel's default), in Swift.
public struct GzipDecompressor: Decompressor {
    public init() {}
    public var name: String { "gzip" }
    public func recognizes(_ prefix: [UInt8]) -> Bool { prefix.starts(with: Inflate.magic) }
    public func decompress(_ input: [UInt8], limit: Int) throws -> [UInt8] { try Inflate.gunzip(input, limit: limit) }
}

/// xz (`CONFIG_KERNEL_XZ`, Debian's generic kernels: BCJ x86 filter and LZMA2 in the .xz container), by liblzma.
public struct XZDecompressor: Decompressor {
    public init() {}
    public var name: String { "xz" }
    public func recognizes(_ prefix: [UInt8]) -> Bool { prefix.starts(with: XZ.magic) }
    public func decompress(_ input: [UInt8], limit: Int) throws -> [UInt8] { try XZ.decompress(input, limit: limit) }
}

/// zstd (`CONFIG_KERNEL_ZSTD`), by libzstd.
public struct ZstdDecompressor: Decompressor {
    public init() {}
    public var name: String { "zstd" }
    public func recognizes(_ prefix: [UInt8]) -> Bool { prefix.starts(with: Zstd.magic) }
    public func decompress(_ input: [UInt8], limit: Int) throws -> [UInt8] { try Zstd.decompress(input, limit: limit) }
}

/// A payload stored uncompressed (`CONFIG_KERNEL_UNCOMPRESSED`): the kernel ELF itself.
public struct UncompressedPayload: Decompressor {
    public init() {}
    public var name: String { "uncompressed" }
    public func recognizes(_ prefix: [UInt8]) -> Bool { ELFImage.isELF(prefix) }
    public func decompress(_ input: [UInt8], limit: Int) throws -> [UInt8] {
        guard input.count <= limit else { throw DecompressionLimitExceeded(limit: limit) }
        return input
    }
}

/// A decompressed payload would be larger than the limit (guest RAM).
public struct DecompressionLimitExceeded: Error, Equatable, Sendable, CustomStringConvertible {
    public var limit: Int
    public var description: String { "decompresses to more than \(limit) bytes" }
}

extension Array where Element == any Decompressor {
    /// Every decompressor the loader has: LZ4 legacy, gzip, xz, zstd and uncompressed payloads.
    public static var standard: [any Decompressor] {
        [LZ4LegacyDecompressor(), GzipDecompressor(), XZDecompressor(), ZstdDecompressor(), UncompressedPayload()]
    }
}
