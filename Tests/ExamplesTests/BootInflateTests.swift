import KernelImageFixtures
import Testing

// A fake bzImage with a gzip kernel ELF, decompressed by boot (the decoder's own tests are in
// Tests/LinuxLoaderTests).

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
