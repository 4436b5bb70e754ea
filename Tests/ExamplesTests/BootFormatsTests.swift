import KernelImageFixtures
import Testing

// The formats boot gained with the LinuxLoader product, run for real: a bzImage whose payload is xz or
// zstd (decompressed by the VMM, entered at startup_64), and multiboot kernels (ELF32 like
// kvm-unit-tests' `.flat` files, and a flat binary with the a.out-kludge addresses), entered in 32-bit
// protected mode with EAX = 0x2BADB002.

extension ExampleTests.Boot {
    @Test(arguments: [("xz", KernelPayloadFixture.xz, KernelPayloadFixture.xzMessage), ("zstd", KernelPayloadFixture.zstd, KernelPayloadFixture.zstdMessage)])
    func xzAndZstdBzImagesAreDecompressedByTheVMM(format: String, payload: [UInt8], message: String) throws {
        let scratch = try BootScratch()
        let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: FakeKernel.printAndReset64("decompressor ran\n"), payload: payload))
        let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--timeout", "30"])
        #expect(output.status == 0, "\(output.standardError)")
        #expect(output.standardOutput == message, "\(output.standardError)")
        #expect(output.standardError.contains("kernel decompressed by the VMM (\(format) payload"), "\(output.standardError)")
    }

    @Test func multibootKernelsGetTheMagicAndPowerOff() throws {
        let scratch = try BootScratch()
        let elf = try scratch.file("test.flat", FakeKernel.multibootELF32(message: "Linux version test: multiboot ELF\n"))
        let elfRun = try ExampleRunner.run("boot", arguments: ["--kernel", elf, "--memory", "64", "--timeout", "30"])
        #expect(elfRun.status == 0, "\(elfRun.standardError)")
        #expect(elfRun.standardOutput == "Linux version test: multiboot ELF\n", "\(elfRun.standardError)")
        #expect(elfRun.standardError.contains("ACPI S5"), "\(elfRun.standardError)")

        let flat = try scratch.file("kernel.bin", FakeKernel.multibootFlat(message: "Linux version test: multiboot flat\n"))
        let flatRun = try ExampleRunner.run("boot", arguments: ["--kernel", flat, "--memory", "64", "--timeout", "30"])
        #expect(flatRun.status == 0, "\(flatRun.standardError)")
        #expect(flatRun.standardOutput == "Linux version test: multiboot flat\n", "\(flatRun.standardError)")
    }
}

extension BootStructures {
    @Test func multibootDryRunShowsTheInformation() throws {
        let scratch = try BootScratch()
        let kernel = try scratch.file("test.flat", FakeKernel.multibootELF32(message: "x"))
        let initrd = try scratch.file("initrd", [UInt8](repeating: 3, count: 100))
        let (output, plan) = try Self.dryRun(["--kernel", kernel, "--initrd", initrd, "--memory", "64", "--cmdline", "args"])
        #expect(output.status == 0, "\(output.standardError)")
        #expect(plan.fields["format"] == "multiboot")
        #expect(plan.fields["mode"] == "32-bit")
        #expect(plan.fields["entry"] == "0x40000c")
        #expect(plan.fields["argument"] == "0x6000", "EBX = the multiboot information")
        let info = plan.bytes("mbinfo")
        try #require(info.count == 116)
        #expect(littleEndian(info, 0, as: UInt32.self) == 0x24D, "mem, cmdline, mods, mmap, loader name")
        #expect(littleEndian(info, 20, as: UInt32.self) == 1, "the initrd as a module")
    }

    @Test func tooLongCommandLineIsRefused() throws {
        let scratch = try BootScratch()
        let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: [0xF4]))
        let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--dry-run", "--cmdline", String(repeating: "x", count: 3000)])
        #expect(output.status == 3)
        #expect(output.standardError.contains("the command line has 3000 bytes; this kernel takes at most 2047"), "\(output.standardError)")
    }
}
