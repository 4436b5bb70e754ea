// Compressed streams for the decompressors' tests: LZ4 legacy and gzip vectors from the real tools, and
// streams built here without a compressor (literal-only LZ4 blocks, stored DEFLATE blocks).

import LinuxLoader

/// LZ4 legacy streams built without a compressor: literal-only blocks are valid LZ4.
public enum LZ4Fixture {
    public static func le32(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    /// One block holding `data` as literals only.
    public static func literalBlock(_ data: [UInt8]) -> [UInt8] {
        var block: [UInt8] = [UInt8(min(data.count, 15) << 4)]
        if data.count >= 15 {
            var rest = data.count - 15
            while rest >= 255 { block.append(255); rest -= 255 }
            block.append(UInt8(rest))
        }
        return block + data
    }

    /// A legacy stream of literal-only blocks of at most `blockSize` bytes, ending with the decompressed
    /// size as the kernel's build appends it (unless `sizeTrailer` is false).
    public static func stream(_ data: [UInt8], blockSize: Int = 8 << 20, sizeTrailer: Bool = true) -> [UInt8] {
        var stream = LZ4Legacy.magicBytes
        var start = 0
        while start < data.count {
            let block = literalBlock(Array(data[start..<min(start + blockSize, data.count)]))
            stream += le32(block.count) + block
            start += blockSize
        }
        return stream + (sizeTrailer ? le32(data.count) : [])
    }

    /// `lz4 -l -c1` (1.9.4) of "abcabc…abc hello world hello world hello world!\n": an overlapping match
    /// (offset 3) with an extended length, and a plain one.
    public static let textCompressed: [UInt8] = [
        0x02, 0x21, 0x4C, 0x18, 0x1D, 0x00, 0x00, 0x00, 0x3F, 0x61, 0x62, 0x63, 0x03, 0x00, 0x0E, 0xCF, 0x20, 0x68,
        0x65, 0x6C, 0x6C, 0x6F, 0x20, 0x77, 0x6F, 0x72, 0x6C, 0x64, 0x0C, 0x00, 0x02, 0x50, 0x72, 0x6C, 0x64, 0x21,
        0x0A,
    ]
    public static let text = Array((String(repeating: "abc", count: 12) + " hello world hello world hello world!\n").utf8)

    /// `lz4 -l -9` (1.9.4) of the bytes 0…255 forty times: 256 literals (extended literal length), one
    /// 9979-byte match at offset 256 (39 length bytes of 255), and 5 closing literals.
    public static let rampCompressed: [UInt8] = LZ4Legacy.magicBytes + le32(0x132) + [0xFF, 0xF1] + (0...255).map { UInt8($0) }
        + [0x00, 0x01] + [UInt8](repeating: 0xFF, count: 39) + [0x0F, 0x50, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF]
    public static let ramp: [UInt8] = (0..<40).flatMap { _ in (0...255).map { UInt8($0) } }
}


public enum GzipFixture {
    public static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    /// A gzip member holding `data` in stored blocks of at most 65535 bytes (no compressor needed).
    public static func stored(_ data: [UInt8], name: String? = nil) -> [UInt8] {
        var stream: [UInt8] = [0x1F, 0x8B, 0x08, name == nil ? 0 : 0x08, 0, 0, 0, 0, 0x02, 0x03]
        if let name { stream += Array(name.utf8) + [0] }
        var start = 0
        repeat {
            let end = min(start + 65535, data.count)
            let length = UInt16(end - start)
            stream += [end == data.count ? 1 : 0, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
            stream += data[start..<end]
            start = end
        } while start < data.count
        return stream + le32(Inflate.crc32(data)) + le32(UInt32(truncatingIfNeeded: data.count))
    }

    /// `gzip -9 -n` of "hello hello hello hello, gzip!\n": one fixed-Huffman block.
    public static let helloCompressed: [UInt8] = [
        0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xCB, 0x48, 0xCD, 0xC9, 0xC9, 0x57, 0xC8, 0x40,
        0x27, 0x75, 0x14, 0xD2, 0xAB, 0x32, 0x0B, 0x14, 0xB9, 0x00, 0x95, 0xDA, 0x2F, 0xA5, 0x1F, 0x00, 0x00, 0x00,
    ]
    public static let hello = Array("hello hello hello hello, gzip!\n".utf8)

    /// 300 words picked by an LCG, joined by spaces (1650 bytes).
    public static let words: [UInt8] = {
        let vocabulary = ["kernel", "boot", "page", "table", "vcpu", "memory", "guest", "host", "swift", "lz4", "gzip"]
        var state: UInt64 = 1
        var picked: [String] = []
        for _ in 0..<300 {
            state = (state &* 1_103_515_245 &+ 12345) % (1 << 31)
            picked.append(vocabulary[Int((state >> 16) % 11)])
        }
        return Array(picked.joined(separator: " ").utf8)
    }()

    /// `gzip -9 -n` of `words`: one dynamic-Huffman block.
    public static let wordsCompressed: [UInt8] = hexBytes("""
        1f8b08000000000002037d946b4ec3301084af924370a11699509192a84941f4f428b31bcfe71af123ce7a5fb34fafdf97b76db8\
        96eb7cfb19be5e97fbb09dce5319a6c7cb30decbba894a39c8f1715986f739e532b4fafead72bc9cc612c76127257164a443d7c0\
        fd28b7cf321dda021014428bd32e187cd2a122c388638f48cea4759ee72e2f49c34e2444fb8710dbd48317286266062ea3d0645f\
        715caa1a4ab0145e7ac89f2c931634f29735ee3552e71a7e3372d1280b3bf307343481140cf80a32ddb82f2ca313763f1ab36ed6\
        42af6faa47224c582584da08f32781ec917d6d4226e4f974df682fe864288bfd8eead4868a6892916a932fd09a248d9f6cd12b77\
        b5fd292b07cc25a586cae9dab7fb9b8a47ef6b4350b1664739243aec9822578d093528ffac219bee62b969c8b0561e63e0e7e558\
        64ccb4173950e8076cbf61de774c0c569fef532c9fc19afeb23f72c5290eb78e02f77ee4b9bc285037b6e6762f29365978deb0e7\
        478f4f44ad36761693d22ef7311dbbd12f8a212ff372060000
        """)

    public static func hexBytes(_ text: String) -> [UInt8] {
        let digits = Array(text.utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).map { UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16) ?? 0 }
    }
}


/// A kernel ELF as a bzImage's payload carries it, compressed the way the kernel's build does it, with the
/// decompressed size appended (4 bytes, little-endian): made once with the real tools and committed, so
/// the tests need neither tool and cannot change with them.
public enum KernelPayloadFixture {
    /// `FakeKernel.kernelELF(code64: FakeKernel.printAndReset64(xzMessage))` (4159 bytes) through
    /// `xz --format=xz --check=crc32 --x86 --lzma2=dict=1MiB` (XZ Utils 5.4.1: the BCJ x86 filter and
    /// LZMA2, as scripts/xz_wrap.sh), plus the size.
    public static let xzMessage = "Linux version test: xz\n"
    public static let xz: [UInt8] = GzipFixture.hexBytes("""
        fd377a585a0000016922de3602010400210110008b216f49e0103e00815d003f914584683d89a6da8acc93e24ef1e9e1e8f0007d9d\
        9626c106bec8cf71cec2a2c75cd3229e5f4a93e87437759a4c1a3ee4ecd2d77ed544f921612c83b785fc03959b1079f7355f435a79\
        31e5982ed64af02bd68ee93099911fac67fbec2b81f84b37b5ea4cf23f0339c50d6c98b4a13f9cd915d2c7cf39383b80aaf9ab0000\
        0000000000a4354f5000019901bf200000caa200b93e300d8b020000000001595a3f100000
        """)

    /// The same ELF printing `zstdMessage` (4161 bytes) through `zstd -19 --no-check` (1.5.4), plus the size.
    public static let zstdMessage = "Linux version test: zstd\n"
    public static let zstd: [UInt8] = GzipFixture.hexBytes("""
        28b52ffd0068ed030082881b23904d73e07eccff5f94e2bb03cc9480fcb63290a8cccc66d4b372cd1f1f9cd4e6f79629035bc75dae\
        43c739ba2b2281701347e5b2502210ed342a6d22d4c73422595d48e3b14ca0c707854e46a034265b86b8aa369cd77fc5bfa732050f\
        f8fbbf8658ecdfff2656dfab18da021305100022ef3380138d0f441c41100000
        """)
}
