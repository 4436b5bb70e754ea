@testable import boot
import Testing

// Host-side decompression of a bzImage's payload: the LZ4 legacy decoder on its own (known vectors from
// the `lz4` tool, literal-only streams built here, malformed and mutated input), then fake bzImages whose
// payload is an LZ4-compressed kernel ELF, booted through startup_64 or left to the "kernel's
// decompressor" (`--decompress guest`).

/// LZ4 legacy streams built without a compressor: literal-only blocks are valid LZ4.
enum LZ4Fixture {
    static func le32(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    /// One block holding `data` as literals only.
    static func literalBlock(_ data: [UInt8]) -> [UInt8] {
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
    static func stream(_ data: [UInt8], blockSize: Int = 8 << 20, sizeTrailer: Bool = true) -> [UInt8] {
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
    static let textCompressed: [UInt8] = [
        0x02, 0x21, 0x4C, 0x18, 0x1D, 0x00, 0x00, 0x00, 0x3F, 0x61, 0x62, 0x63, 0x03, 0x00, 0x0E, 0xCF, 0x20, 0x68,
        0x65, 0x6C, 0x6C, 0x6F, 0x20, 0x77, 0x6F, 0x72, 0x6C, 0x64, 0x0C, 0x00, 0x02, 0x50, 0x72, 0x6C, 0x64, 0x21,
        0x0A,
    ]
    static let text = Array((String(repeating: "abc", count: 12) + " hello world hello world hello world!\n").utf8)

    /// `lz4 -l -9` (1.9.4) of the bytes 0…255 forty times: 256 literals (extended literal length), one
    /// 9979-byte match at offset 256 (39 length bytes of 255), and 5 closing literals.
    static let rampCompressed: [UInt8] = LZ4Legacy.magicBytes + le32(0x132) + [0xFF, 0xF1] + (0...255).map { UInt8($0) }
        + [0x00, 0x01] + [UInt8](repeating: 0xFF, count: 39) + [0x0F, 0x50, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF]
    static let ramp: [UInt8] = (0..<40).flatMap { _ in (0...255).map { UInt8($0) } }
}

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
        #expect(BzImagePayload.Format(magic: [0x02, 0x21, 0x4C, 0x18, 0, 0]) == .lz4Legacy)
        #expect(BzImagePayload.Format(magic: [0x1F, 0x8B, 0x08, 0]) == .gzip)
        #expect(BzImagePayload.Format(magic: [0x28, 0xB5, 0x2F, 0xFD]) == .zstd)
        #expect(BzImagePayload.Format(magic: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) == .xz)
        #expect(BzImagePayload.Format(magic: [0x7F, 0x45, 0x4C, 0x46]) == .elf)
        #expect(BzImagePayload.Format(magic: [1, 2, 3, 4]) == .unknown)
    }
}

extension FakeKernel {
    /// Where the kernel ELF's segment goes (LOAD_PHYSICAL_ADDR) and its virtual address.
    static let kernelPhysical: UInt64 = 0x100_0000
    static let kernelVirtual: UInt64 = 0xFFFF_FFFF_8100_0000

    /// A kernel's stripped vmlinux as the decompressor finds it: ELF64, one PT_LOAD of `code64` at
    /// physical 16 MiB (virtual 0xffffffff81000000) with 2 MiB of bss, e_entry = the physical
    /// startup_64 (x86-64 kernels are linked with ENTRY(phys_startup_64)); no PVH note.
    static func kernelELF(code64: [UInt8]) -> [UInt8] {
        var image = [UInt8](repeating: 0, count: 0x1000)
        func put<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
            for index in 0..<MemoryLayout<T>.size { image[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
        }
        image.replaceSubrange(0..<4, with: [0x7F, 0x45, 0x4C, 0x46])
        put(UInt8(2), 4)
        put(UInt8(1), 5)
        put(UInt8(1), 6)
        put(UInt16(2), 16)  // ET_EXEC
        put(UInt16(62), 18)  // x86-64
        put(UInt32(1), 20)
        put(kernelPhysical, 24)  // e_entry
        put(UInt64(64), 32)  // e_phoff
        put(UInt16(64), 52)
        put(UInt16(56), 54)
        put(UInt16(1), 56)
        put(UInt32(1), 64)  // PT_LOAD
        put(UInt32(5), 68)
        put(UInt64(0x1000), 72)
        put(kernelVirtual, 80)
        put(kernelPhysical, 88)
        put(UInt64(code64.count), 96)
        put(UInt64(0x20_0000), 104)
        return image + code64
    }

    /// A bzImage whose protected-mode code prints `guestMessage` (standing in for the kernel's
    /// decompressor) and whose LZ4 payload is a kernel ELF printing `kernelMessage`; both check RSI.
    static func lz4BzImage(guestMessage: String, kernelMessage: String, payload: [UInt8]? = nil) -> [UInt8] {
        bzImage(
            code64: printAndReset64(guestMessage),
            payload: payload ?? LZ4Fixture.stream(kernelELF(code64: printAndReset64(kernelMessage)), blockSize: 3000))
    }
}

extension BootStructures {
    @Test func bzImageDecompressedByTheHostEntersTheKernelELF() throws {
        let scratch = try BootScratch()
        let kernel = try scratch.file("bzImage", FakeKernel.lz4BzImage(guestMessage: "guest", kernelMessage: "host"))
        let initrd = try scratch.file("initrd", [UInt8](repeating: 0xA5, count: 5000))
        let (output, plan) = try Self.dryRun(["--kernel", kernel, "--initrd", initrd, "--memory", "64"])
        #expect(output.status == 0, "\(output.standardError)")
        #expect(plan.fields["decompression"] == "host")
        #expect(plan.fields["mode"] == "64-bit")
        #expect(plan.fields["entry"] == "0x1000000", "startup_64: the ELF's physical e_entry")
        #expect(plan.fields["argument"] == "0x7000", "RSI = the zero page")
        #expect(plan.fields["kernel"] == "0x1000000 0x1200000", "the segment with its bss")
        #expect(Array(plan.bytes("code").prefix(6)) == Array(FakeKernel.printAndReset64("host").prefix(6)), "PT_LOAD at p_paddr")
        let zero = plan.bytes("zeropage")
        try #require(zero.count == 4096)
        #expect(Array(zero[0x202..<0x206]) == Array("HdrS".utf8), "the setup header is copied")
        #expect(zero[0x211] & 0x2 == 0, "KASLR_FLAG clear, as the kernel's decompressor leaves it")
        let initrdAddress = UInt64(littleEndian(zero, 0x218, as: UInt32.self))
        #expect(initrdAddress >= 0x120_0000 && initrdAddress + 5000 <= 64 << 20, "the initrd is above the kernel's bss")

        let (guestOutput, guestPlan) = try Self.dryRun(["--kernel", kernel, "--memory", "64", "--decompress", "guest"])
        #expect(guestOutput.status == 0, "\(guestOutput.standardError)")
        #expect(guestPlan.fields["decompression"] == "guest")
        #expect(guestPlan.fields["entry"] == "0x1000200", "the 64-bit boot protocol entry")
    }

    @Test func malformedLZ4PayloadIsALoadErrorNotATrap() throws {
        let scratch = try BootScratch()
        let payload = LZ4Legacy.magicBytes + LZ4Fixture.le32(5) + [0x10, 0x41, 0x02, 0x00, 0x00]
        let kernel = try scratch.file("bzImage", FakeKernel.lz4BzImage(guestMessage: "guest", kernelMessage: "", payload: payload))
        let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--dry-run"])
        #expect(output.status == 3)
        #expect(output.standardError.contains("LZ4 legacy stream: match at byte 10 reaches 2 bytes back"), "\(output.standardError)")
        #expect(output.standardError.contains("--decompress guest"), "\(output.standardError)")
    }
}

extension ExampleTests.Boot {
    @Test func hostDecompressedBzImageRunsStartup64AndGuestDecompressionRunsTheDecompressor() throws {
        let scratch = try BootScratch()
        let kernel = try scratch.file("bzImage", FakeKernel.lz4BzImage(
            guestMessage: "Linux version test: the kernel's decompressor ran\n", kernelMessage: "Linux version test: startup_64 ran\n"))
        let host = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--timeout", "30"])
        #expect(host.status == 0, "\(host.standardError)")
        #expect(host.standardOutput == "Linux version test: startup_64 ran\n", "\(host.standardError)")
        #expect(host.standardError.contains("kernel decompressed by the VMM (lz4 payload"), "\(host.standardError)")
        #expect(host.standardError.contains("entering startup_64 at 0x1000000"), "\(host.standardError)")

        let guest = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--timeout", "30", "--decompress", "guest"])
        #expect(guest.status == 0, "\(guest.standardError)")
        #expect(guest.standardOutput == "Linux version test: the kernel's decompressor ran\n", "\(guest.standardError)")
        #expect(guest.standardError.contains("the kernel decompresses itself in the guest (--decompress guest)"), "\(guest.standardError)")
    }

    @Test func payloadFormatTheVMMDoesNotKnowFallsBackToTheGuest() throws {
        let scratch = try BootScratch()
        let zstd: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD] + [UInt8](repeating: 0, count: 60)
        let kernel = try scratch.file("bzImage", FakeKernel.lz4BzImage(guestMessage: "Linux version test: decompressor\n", kernelMessage: "", payload: zstd))
        let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--timeout", "30"])
        #expect(output.status == 0, "\(output.standardError)")
        #expect(output.standardOutput == "Linux version test: decompressor\n")
        #expect(output.standardError.contains("the kernel decompresses itself in the guest (the VMM does not decompress zstd payloads)"), "\(output.standardError)")
    }
}
