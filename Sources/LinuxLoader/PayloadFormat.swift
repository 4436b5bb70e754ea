// The compressed kernel inside a bzImage. The setup header (boot protocol 2.08+) says where that payload
// is (`payload_offset`, relative to the protected-mode code at (setup_sects + 1) * 512) and how long it
// is (`payload_length`); its first bytes say how it is compressed (the magics scripts/extract-vmlinux
// looks for). Decompressed, it is the kernel's stripped vmlinux ELF (possibly followed by relocation
// data, unused here), and the kernel's build appends the decompressed size as 4 little-endian bytes.

/// How a bzImage's payload is compressed, recognized from its first bytes.
public enum PayloadFormat: Equatable, Sendable, CustomStringConvertible {
    case lz4Legacy, gzip, xz, zstd, bzip2, lzma, lzo
    /// Not compressed: the payload is the kernel ELF itself.
    case elf
    case unknown

    /// The format from the payload's first bytes.
    public init(magic: [UInt8]) {
        func starts(_ bytes: [UInt8]) -> Bool { magic.starts(with: bytes) }
        if starts(LZ4Legacy.magicBytes) { self = .lz4Legacy }
        else if starts(Inflate.magic) { self = .gzip }
        else if starts(XZ.magic) { self = .xz }
        else if starts(Zstd.magic) { self = .zstd }
        else if starts([0x42, 0x5A, 0x68]) { self = .bzip2 }
        else if starts([0x5D, 0x00, 0x00]) { self = .lzma }
        else if starts([0x89, 0x4C, 0x5A, 0x4F]) { self = .lzo }
        else if ELFImage.isELF(magic) { self = .elf }
        else { self = .unknown }
    }

    public var description: String {
        switch self {
        case .lz4Legacy: return "lz4"
        case .gzip: return "gzip"
        case .xz: return "xz"
        case .zstd: return "zstd"
        case .bzip2: return "bzip2"
        case .lzma: return "lzma"
        case .lzo: return "lzo"
        case .elf: return "uncompressed"
        case .unknown: return "unrecognized"
        }
    }
}

/// Where a bzImage's payload is in the image file.
struct BzImagePayload {
    let fileOffset: Int
    let length: Int
    let format: PayloadFormat

    /// The payload of `kernel`; nil when the header records none (boot protocol before 2.08).
    static func locate(header: SetupHeader, kernel: some ImageSource) throws(LoadError) -> BzImagePayload? {
        guard header.version >= 0x0208, header.payloadLength > 0 else { return nil }
        let start = header.kernelOffset + Int(header.payloadOffset)
        let length = Int(header.payloadLength)
        guard start <= kernel.size, length <= kernel.size - start, let magic = kernel.bytes(at: start, count: min(length, 8)) else {
            throw .payloadOutsideImage(offset: start, length: length, imageSize: kernel.size)
        }
        return BzImagePayload(fileOffset: start, length: length, format: PayloadFormat(magic: magic))
    }
}
