@testable import boot
import KVM
import KernelImageFixtures
import Testing

// `boot --profile-guest`: the System.map lookup on its own, and a spinning fake kernel whose samples all
// land in the function the map names.

@Suite struct GuestProfilerSymbols {
    @Test func systemMapLookupFindsTheEnclosingTextSymbol() {
        let table = GuestSymbolTable(systemMap: """
            ffffffff81000000 T _text
            ffffffff81000000 T startup_64
            ffffffff81000070 t secondary_startup_64
            ffffffff81000200 D some_data
            not a symbol line
            ffffffff81001000 W weak_function
            """)
        #expect(table.name(for: 0xFFFF_FFFF_8100_0000) == "startup_64" || table.name(for: 0xFFFF_FFFF_8100_0000) == "_text")
        #expect(table.name(for: 0xFFFF_FFFF_8100_0300) == "secondary_startup_64", "data symbols are not functions")
        #expect(table.name(for: 0xFFFF_FFFF_8100_1234) == "weak_function")
        #expect(table.name(for: 0x1000) == nil, "below the first symbol")
    }

    @Test func reportRanksFunctionsAndBuildsATimeline() {
        let profiler = GuestProfiler(intervalMilliseconds: 1, symbols: GuestSymbolTable(systemMap: "0000000000001000 T alpha\n0000000000002000 T beta\n"), started: 0)
        for index in 0..<30 { profiler.add(.init(seconds: Double(index) / 10, vcpu: 0, rip: index < 20 ? 0x1010 : 0x2020, userMode: false)) }
        profiler.add(.init(seconds: 3, vcpu: 0, rip: 0x4000_0000, userMode: true))
        let report = profiler.report(windows: 3)
        #expect(report.contains("31 samples"), "\(report)")
        #expect(report.contains(" 64.5%      20  alpha"), "\(report)")
        #expect(report.contains(" 32.3%      10  beta"), "\(report)")
        #expect(report.contains("(user mode)"), "\(report)")
        #expect(report.contains("0-1 s: alpha 100.0%"), "\(report)")
        #expect(report.contains("2-3 s: beta 100.0%"), "\(report)")
    }
}

extension ExampleTests.Boot {
    @Test func profileGuestNamesTheFunctionTheGuestSpinsIn() throws {
        let scratch = try BootScratch()
        let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: [0xEB, 0xFE]))  // jmp $, at 0x1000200
        let map = try scratch.file("System.map", Array("0000000001000000 T before\n0000000001000200 T spin_here\n0000000001000202 t after\n".utf8))
        let output = try ExampleRunner.run("boot", arguments: [
            "--kernel", kernel, "--memory", "64", "--timeout", "1", "--profile-guest", "5", "--symbols", map])
        #expect(output.status == 124, "\(output.standardError)")
        #expect(output.standardError.contains("guest profile:"), "\(output.standardError)")
        #expect(output.standardError.contains("100.0%"), "\(output.standardError)")
        #expect(output.standardError.contains("spin_here"), "\(output.standardError)")
        #expect(!output.standardError.contains("before"), "\(output.standardError)")
    }
}
