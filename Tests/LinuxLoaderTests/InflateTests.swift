import KernelImageFixtures
import LinuxLoader
import Testing

// gzip: `gzip -9 -n` vectors (a fixed-Huffman block, a dynamic one), stored blocks built here, malformed
// and mutated streams.

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

