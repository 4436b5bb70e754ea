// The compressed kernel inside a bzImage, and decompressing it on the host.
//
// A bzImage's protected-mode code is the kernel's own decompressor plus the real kernel, compressed: the
// setup header (boot protocol 2.08+) says where that payload is (`payload_offset`, relative to the
// protected-mode code at (setup_sects + 1) * 512) and how long it is (`payload_length`). Decompressed, it
// is the kernel's stripped vmlinux ELF (possibly followed by relocation data, unused here). Booting it
// the way the kernel's decompressor would (extract_kernel in arch/x86/boot/compressed/misc.c): put its
// PT_LOAD segments at their physical addresses and enter e_entry (`startup_64`) in 64-bit mode with RSI
// = the zero page, KASLR_FLAG clear in its loadflags.
//
// On hardware virtualization this saves the decompressor's fraction of a second; where KVM emulates
// kernel code (PVM) it saves minutes. Only formats decompressed here are used (LZ4 legacy, what Debian's
// kernels carry, LZ4Legacy.swift; gzip, the kernel's default, Inflate.swift); for any other the kernel
// decompresses itself, as before.

struct BzImagePayload {
    enum Format: Equatable, CustomStringConvertible {
        case lz4Legacy, gzip, xz, zstd, bzip2, lzma, lzo, elf, unknown

        /// The format from the payload's first bytes (the magics scripts/extract-vmlinux looks for).
        init(magic: [UInt8]) {
            func starts(_ bytes: [UInt8]) -> Bool { magic.starts(with: bytes) }
            if starts(LZ4Legacy.magicBytes) { self = .lz4Legacy }
            else if starts([0x1F, 0x8B]) { self = .gzip }
            else if starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { self = .xz }
            else if starts([0x28, 0xB5, 0x2F, 0xFD]) { self = .zstd }
            else if starts([0x42, 0x5A, 0x68]) { self = .bzip2 }
            else if starts([0x5D, 0x00, 0x00]) { self = .lzma }
            else if starts([0x89, 0x4C, 0x5A, 0x4F]) { self = .lzo }
            else if ELFImage.isELF(magic) { self = .elf }
            else { self = .unknown }
        }

        var description: String {
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

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Where the payload is in the image file, and how long it is.
    let fileOffset: Int
    let length: Int
    let format: Format

    /// The payload of `kernel`, or why there is none to decompress here (the caller then lets the
    /// kernel decompress itself).
    static func locate(header: SetupHeader, kernel: some ImageSource) -> Result<BzImagePayload, Failure> {
        guard header.version >= 0x0208, header.payloadLength > 0 else {
            return .failure(Failure(description: "the setup header records no payload (boot protocol \(SetupHeader.versionString(header.version)))"))
        }
        let start = header.kernelOffset + Int(header.payloadOffset)
        let length = Int(header.payloadLength)
        guard start <= kernel.size, length <= kernel.size - start, let magic = kernel.bytes(at: start, count: min(length, 8))
        else {
            return .failure(Failure(description: "the payload (\(length) bytes at \(hex(start))) lies outside the \(kernel.size)-byte image"))
        }
        return .success(BzImagePayload(fileOffset: start, length: length, format: Format(magic: magic)))
    }

    /// Decompresses the payload into the kernel's ELF image; nil when the VMM cannot decompress this
    /// format (the notice says why). `limit` bounds the output (a kernel larger than guest RAM cannot boot).
    func decompress(from kernel: some ImageSource, limit: Int) throws(Failure) -> [UInt8]? {
        guard let data = kernel.bytes(at: fileOffset, count: length) else {
            throw Failure(description: "cannot read the \(length)-byte payload at \(hex(fileOffset))")
        }
        switch format {
        case .lz4Legacy:
            do {
                return try LZ4Legacy.decompress(data, limit: limit)
            } catch {
                throw Failure(description: "\(error) (--decompress guest lets the kernel decompress itself)")
            }
        case .gzip:
            do {
                return try Inflate.gunzip(data, limit: limit)
            } catch {
                throw Failure(description: "\(error) (--decompress guest lets the kernel decompress itself)")
            }
        case .elf:
            return data
        default:
            return nil
        }
    }
}
