import KernelImageFixtures
import Testing

// `boot --prefault` and `--huge-pages`: how the host backs guest RAM, seen in the memory report.

extension ExampleTests.Boot {
    /// The guest RAM resident at exit, in KiB, from `--report-memory`'s line.
    static func guestResidentKiB(_ standardError: String) -> Int? {
        guard let range = standardError.range(of: "guest RAM resident ") else { return nil }
        return Int(standardError[range.upperBound...].prefix { $0.isNumber })
    }

    @Test func prefaultMakesAllGuestRAMResidentBeforeTheGuestRuns() throws {
        let scratch = try BootScratch()
        let kernel = try scratch.file("vmlinux", FakeKernel.pvhELF(code32: FakeKernel.printAndPowerOff32("Linux version test (PVH)\n")))
        let arguments = ["--kernel", kernel, "--memory", "64", "--timeout", "30", "--report-memory"]

        let plain = try ExampleRunner.run("boot", arguments: arguments)
        #expect(plain.status == 0, "\(plain.standardError)")
        let touched = try #require(Self.guestResidentKiB(plain.standardError), "\(plain.standardError)")
        #expect(touched < 16 * 1024, "without --prefault only what the loader and the guest touched is resident")

        let prefaulted = try ExampleRunner.run("boot", arguments: arguments + ["--prefault", "--huge-pages"])
        #expect(prefaulted.status == 0, "\(prefaulted.standardError)")
        #expect(prefaulted.standardOutput == "Linux version test (PVH)\n")
        #expect(!prefaulted.standardError.contains("madvise("), "no backing request was refused: \(prefaulted.standardError)")
        let resident = try #require(Self.guestResidentKiB(prefaulted.standardError), "\(prefaulted.standardError)")
        #expect(resident >= 64 * 1024 - 1024, "all 64 MiB of guest RAM (below the 1 MiB hole at most) is resident")
    }
}
