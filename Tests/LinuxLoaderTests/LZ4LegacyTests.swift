import KernelImageFixtures
import LinuxLoader
import Testing

// The LZ4 legacy decoder on its own: known vectors from the `lz4` tool, literal-only streams built here,
// malformed and mutated input; and recognizing a payload's format by its magic.

@Suite struct LZ4LegacyDecoding {
    @Test func knownVectorsFromTheLZ4Tool() throws {
        #expect(try LZ4Legacy.decompress(LZ4Fixture.textCompressed) == LZ4Fixture.text)
        #expect(try LZ4Legacy.decompress(LZ4Fixture.rampCompressed) == LZ4Fixture.ramp)
        // The kernel build appends the decompressed size; it is checked when present.
        #expect(try LZ4Legacy.decompress(LZ4Fixture.rampCompressed + LZ4Fixture.le32(10240)) == LZ4Fixture.ramp)
        // Frames may be concatenated.
        #expect(try LZ4Legacy.decompress(LZ4Fixture.textCompressed + LZ4Fixture.rampCompressed) == LZ4Fixture.text + LZ4Fixture.ramp)
    }

    @Test(arguments: [0, 1, 14, 15, 16, 269, 270, 271, 5000, 70000])
    func literalOnlyStreamsRoundTrip(size: Int) throws {
        let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        #expect(try LZ4Legacy.decompress(LZ4Fixture.stream(data)) == data)
        #expect(try LZ4Legacy.decompress(LZ4Fixture.stream(data, sizeTrailer: false)) == data)
        #expect(try LZ4Legacy.decompress(LZ4Fixture.stream(data, blockSize: 1000)) == data, "several blocks")
    }

    static let magic = LZ4Legacy.magicBytes
    static let le32 = LZ4Fixture.le32

    @Test(arguments: [
        ([0x02, 0x21, 0x4C], LZ4Legacy.Failure.badMagic),
        (magic + [1, 0], .truncatedBlockHeader(offset: 4)),
        (magic + le32(10) + [0x10, 0x41], .blockPastEnd(offset: 4, size: 10, remaining: 2)),
        (magic + le32(0) + le32(0), .emptyBlock(offset: 4)),
        (magic + le32(2) + [0x50, 0x41], .literalsPastInput(offset: 8)),
        (magic + le32(1) + [0xF0], .truncatedLength(offset: 8)),
        (magic + le32(3) + [0x10, 0x41, 0x01], .truncatedMatchOffset(offset: 10)),
        (magic + le32(5) + [0x10, 0x41, 0x00, 0x00, 0x00], .zeroMatchOffset(offset: 10)),
        (magic + le32(5) + [0x10, 0x41, 0x02, 0x00, 0x00], .matchBeforeBlockStart(offset: 10, distance: 2)),
        (LZ4Fixture.stream(Array("abc".utf8), sizeTrailer: false) + le32(4), .sizeTrailerMismatch(declared: 4, actual: 3)),
        // One literal, then a match of offset 1 whose length bytes add up past the 8 MiB block limit.
        (magic + le32(33_005) + [0x1F, 0x41, 0x01, 0x00] + [UInt8](repeating: 0xFF, count: 33_000) + [0x00], .blockTooLarge(offset: 8)),
    ] as [([UInt8], LZ4Legacy.Failure)])
    func malformedStreamsAreRejected(stream: [UInt8], failure: LZ4Legacy.Failure) {
        #expect(throws: failure) { try LZ4Legacy.decompress(stream) }
    }

    @Test func outputLimitIsEnforced() {
        #expect(throws: LZ4Legacy.Failure.outputLimit(50)) { try LZ4Legacy.decompress(LZ4Fixture.stream([UInt8](repeating: 7, count: 100)), limit: 50) }
        #expect(throws: LZ4Legacy.Failure.outputLimit(300)) { try LZ4Legacy.decompress(LZ4Fixture.rampCompressed, limit: 300) }
    }

    /// Thousands of corrupted and truncated variants of valid streams: each decodes or throws, none traps.
    @Test func mutatedStreamsNeverTrap() {
        let seeds = [LZ4Fixture.textCompressed, LZ4Fixture.rampCompressed, LZ4Fixture.stream(Array(0..<200))]
        let rejected = rejectedMutations(of: seeds, keeping: 4, seed: 0x9E37_79B9_7F4A_7C15) { _ = try LZ4Legacy.decompress($0, limit: 64 << 10) }
        #expect(rejected > 0)
    }

    @Test func payloadFormatsByMagic() {
        #expect(PayloadFormat(magic: [0x02, 0x21, 0x4C, 0x18, 0, 0]) == .lz4Legacy)
        #expect(PayloadFormat(magic: [0x1F, 0x8B, 0x08, 0]) == .gzip)
        #expect(PayloadFormat(magic: [0x28, 0xB5, 0x2F, 0xFD]) == .zstd)
        #expect(PayloadFormat(magic: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) == .xz)
        #expect(PayloadFormat(magic: [0x7F, 0x45, 0x4C, 0x46]) == .elf)
        #expect(PayloadFormat(magic: [1, 2, 3, 4]) == .unknown)
    }
}

