@testable import boot
import Testing

// gzip payloads decompressed by the VMM: `gzip -9 -n` vectors (a fixed-Huffman block, a dynamic one),
// stored blocks built here, malformed and mutated streams, and a fake bzImage with a gzip kernel ELF.

enum GzipFixture {
    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    /// A gzip member holding `data` in stored blocks of at most 65535 bytes (no compressor needed).
    static func stored(_ data: [UInt8], name: String? = nil) -> [UInt8] {
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
    static let helloCompressed: [UInt8] = [
        0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xCB, 0x48, 0xCD, 0xC9, 0xC9, 0x57, 0xC8, 0x40,
        0x27, 0x75, 0x14, 0xD2, 0xAB, 0x32, 0x0B, 0x14, 0xB9, 0x00, 0x95, 0xDA, 0x2F, 0xA5, 0x1F, 0x00, 0x00, 0x00,
    ]
    static let hello = Array("hello hello hello hello, gzip!\n".utf8)

    /// 300 words picked by an LCG, joined by spaces (1650 bytes).
    static let words: [UInt8] = {
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
    static let wordsCompressed: [UInt8] = hexBytes("""
        1f8b08000000000002037d946b4ec3301084af924370a11699509192a84941f4f428b31bcfe71af123ce7a5fb34fafdf97b76db8\
        96eb7cfb19be5e97fbb09dce5319a6c7cb30decbba894a39c8f1715986f739e532b4fafead72bc9cc612c76127257164a443d7c0\
        fd28b7cf321dda021014428bd32e187cd2a122c388638f48cea4759ee72e2f49c34e2444fb8710dbd48317286266062ea3d0645f\
        715caa1a4ab0145e7ac89f2c931634f29735ee3552e71a7e3372d1280b3bf307343481140cf80a32ddb82f2ca313763f1ab36ed6\
        42af6faa47224c582584da08f32781ec917d6d4226e4f974df682fe864288bfd8eead4868a6892916a932fd09a248d9f6cd12b77\
        b5fd292b07cc25a586cae9dab7fb9b8a47ef6b4350b1664739243aec9822578d093528ffac219bee62b969c8b0561e63e0e7e558\
        64ccb4173950e8076cbf61de774c0c569fef532c9fc19afeb23f72c5290eb78e02f77ee4b9bc285037b6e6762f29365978deb0e7\
        478f4f44ad36761693d22ef7311dbbd12f8a212ff372060000
        """)

    static func hexBytes(_ text: String) -> [UInt8] {
        let digits = Array(text.utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).map { UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16) ?? 0 }
    }
}

@Suite struct InflateDecoding {
    @Test func crc32KnownValue() {
        #expect(Inflate.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(Inflate.crc32([]) == 0)
    }

    @Test func knownVectorsFromGzip() throws {
        #expect(GzipFixture.wordsCompressed.count == 389)
        #expect(try Inflate.gunzip(GzipFixture.helloCompressed) == GzipFixture.hello, "fixed Huffman")
        #expect(try Inflate.gunzip(GzipFixture.wordsCompressed) == GzipFixture.words, "dynamic Huffman")
    }

    @Test(arguments: [0, 1, 100, 65535, 65536, 200_000])
    func storedBlocksRoundTrip(size: Int) throws {
        let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 >> 3) }
        #expect(try Inflate.gunzip(GzipFixture.stored(data)) == data)
        #expect(try Inflate.gunzip(GzipFixture.stored(data, name: "vmlinux.bin")) == data, "with a file name")
    }

    @Test func malformedStreamsAreRejected() {
        let hello = GzipFixture.helloCompressed
        #expect(throws: Inflate.Failure.notGzip) { try Inflate.gunzip([0x1F, 0x8C]) }
        #expect(throws: Inflate.Failure.unsupportedMethod(7)) { try Inflate.gunzip([0x1F, 0x8B, 7, 0, 0, 0, 0, 0, 0, 3, 0]) }
        #expect(throws: Inflate.Failure.truncated) { try Inflate.gunzip(Array(hello.prefix(20))) }
        #expect(throws: Inflate.Failure.truncated) { try Inflate.gunzip(Array(hello.dropLast(3))) }
        #expect(throws: Inflate.Failure.badBlockType) { try Inflate.gunzip(Array(hello.prefix(10)) + [0x07, 0, 0, 0, 0, 0, 0, 0, 0]) }
        #expect(throws: Inflate.Failure.storedLengthMismatch) {
            try Inflate.gunzip(Array(hello.prefix(10)) + [0x01, 0x05, 0x00, 0x00, 0x00] + [UInt8](repeating: 0, count: 13))
        }
        var badCRC = hello
        badCRC[hello.count - 8] ^= 1
        #expect(throws: (any Error).self) { try Inflate.gunzip(badCRC) }
        var badSize = hello
        badSize[hello.count - 4] ^= 1
        #expect(throws: Inflate.Failure.sizeMismatch(expected: 30, actual: 31)) { try Inflate.gunzip(badSize) }
        // A fixed block whose first symbol is a match (length 3, distance 1) with nothing produced yet.
        #expect(throws: Inflate.Failure.distanceTooFar(distance: 1, available: 0)) {
            try Inflate.gunzip(Array(hello.prefix(10)) + [0x03, 0x02, 0x00] + [UInt8](repeating: 0, count: 8))
        }
        #expect(throws: Inflate.Failure.outputLimit(10)) { try Inflate.gunzip(GzipFixture.wordsCompressed, limit: 10) }
        #expect(throws: Inflate.Failure.outputLimit(10)) { try Inflate.gunzip(GzipFixture.stored([UInt8](repeating: 1, count: 11)), limit: 10) }
    }

    /// Corrupted and truncated variants of valid streams: each decodes or throws, none traps.
    @Test func mutatedStreamsNeverTrap() {
        let seeds = [GzipFixture.helloCompressed, GzipFixture.wordsCompressed, GzipFixture.stored(Array(0..<100))]
        let rejected = rejectedMutations(of: seeds, keeping: 10, seed: 0x2545_F491_4F6C_DD1D) { _ = try Inflate.gunzip($0, limit: 64 << 10) }
        #expect(rejected > 0)
    }
}

extension BootStructures {
    @Test func gzipBzImageIsDecompressedByTheHost() throws {
        let scratch = try BootScratch()
        let payload = GzipFixture.stored(FakeKernel.kernelELF(code64: FakeKernel.printAndReset64("gzip")))
        let kernel = try scratch.file("bzImage", FakeKernel.lz4BzImage(guestMessage: "guest", kernelMessage: "", payload: payload))
        let (output, plan) = try Self.dryRun(["--kernel", kernel, "--memory", "64"])
        #expect(output.status == 0, "\(output.standardError)")
        #expect(plan.fields["decompression"] == "host")
        #expect(plan.fields["entry"] == "0x1000000")
        #expect(Array(plan.bytes("code").prefix(6)) == Array(FakeKernel.printAndReset64("gzip").prefix(6)))
    }
}
