import KernelImageFixtures
import LinuxLoader
import Testing

// Host-side decompression of a bzImage's payload, through boot: fake bzImages whose payload is an
// LZ4-compressed kernel ELF, booted through startup_64 or left to the "kernel's decompressor"
// (`--decompress guest`). The decoders' own tests are in Tests/LinuxLoaderTests.

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
        let bzip2: [UInt8] = Array("BZh9".utf8) + [UInt8](repeating: 0, count: 60)
        let kernel = try scratch.file("bzImage", FakeKernel.lz4BzImage(guestMessage: "Linux version test: decompressor\n", kernelMessage: "", payload: bzip2))
        let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--timeout", "30"])
        #expect(output.status == 0, "\(output.standardError)")
        #expect(output.standardOutput == "Linux version test: decompressor\n")
        #expect(output.standardError.contains("the kernel decompresses itself in the guest (the VMM does not decompress bzip2 payloads)"), "\(output.standardError)")
    }
}
