import KernelImageFixtures
import LinuxLoader
import Testing

// xz and zstd through liblzma and libzstd: vectors made with the real tools (committed), the size the
// kernel's build appends after the stream, malformed, truncated and mutated streams, the output limit.

@Suite struct XZDecoding {
    static let elf = FakeKernel.kernelELF(code64: FakeKernel.printAndReset64(KernelPayloadFixture.xzMessage))

    @Test func decodesTheKernelStyleVectorIgnoringTheAppendedSize() throws {
        #expect(try XZ.decompress(KernelPayloadFixture.xz) == Self.elf)
        #expect(try XZDecompressor().decompress(KernelPayloadFixture.xz, limit: 1 << 20) == Self.elf)
        #expect(XZDecompressor().recognizes(Array(KernelPayloadFixture.xz.prefix(8))))
        #expect(!XZDecompressor().recognizes(Array(KernelPayloadFixture.zstd.prefix(8))))
    }

    @Test func malformedStreamsAreRejected() {
        let vector = KernelPayloadFixture.xz
        #expect(throws: XZ.Failure(code: 7)) { try XZ.decompress([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x01] + Array(vector.dropFirst(6))) }  // LZMA_FORMAT_ERROR
        #expect(throws: XZ.Failure(code: 10)) { try XZ.decompress(Array(vector.prefix(100))) }  // LZMA_BUF_ERROR: cut off
        var corrupt = vector
        corrupt[60] ^= 0x55
        #expect(throws: (any Error).self) { try XZ.decompress(corrupt) }
        #expect(throws: XZ.Failure(code: 0, outputLimit: 4000)) { try XZ.decompress(vector, limit: 4000) }
        #expect("\(XZ.Failure(code: 10))" == "xz stream: cut off")
    }

    @Test func mutatedStreamsNeverTrap() {
        let rejected = rejectedMutations(of: [KernelPayloadFixture.xz], keeping: 12, seed: 0x1234_5678, rounds: 500) {
            _ = try XZ.decompress($0, limit: 64 << 10)
        }
        #expect(rejected > 0)
    }
}

@Suite struct ZstdDecoding {
    static let elf = FakeKernel.kernelELF(code64: FakeKernel.printAndReset64(KernelPayloadFixture.zstdMessage))

    @Test func decodesTheKernelStyleVectorIgnoringTheAppendedSize() throws {
        #expect(try Zstd.decompress(KernelPayloadFixture.zstd) == Self.elf)
        #expect(try ZstdDecompressor().decompress(KernelPayloadFixture.zstd, limit: 1 << 20) == Self.elf)
        #expect(ZstdDecompressor().recognizes(Array(KernelPayloadFixture.zstd.prefix(8))))
    }

    @Test func malformedStreamsAreRejected() {
        let vector = KernelPayloadFixture.zstd
        #expect(throws: Zstd.Failure(reason: "cut off")) { try Zstd.decompress(Array(vector.prefix(60))) }
        #expect(throws: Zstd.Failure(reason: "decompresses to more than 4100 bytes")) { try Zstd.decompress(vector, limit: 4100) }
        // A frame declaring a window beyond 1 GiB (window descriptor 0xA8: 2^31) is refused before anything is allocated.
        var huge = vector
        huge[5] = 0xA8
        #expect(throws: Zstd.Failure(reason: "Frame requires too much memory for decoding")) { try Zstd.decompress(huge) }
        #expect(throws: Zstd.Failure(reason: "Unknown frame descriptor")) { try Zstd.decompress([1, 2, 3, 4, 5, 6, 7, 8]) }
    }

    @Test func mutatedStreamsNeverTrap() {
        let rejected = rejectedMutations(of: [KernelPayloadFixture.zstd], keeping: 4, seed: 0x8765_4321, rounds: 500) {
            _ = try Zstd.decompress($0, limit: 64 << 10)
        }
        #expect(rejected > 0)
    }
}
