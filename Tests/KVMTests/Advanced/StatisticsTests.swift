import KVM
import X86Assembler
import KVMBindings
import Testing

@Suite(.enabled(if: KVMHost.isAvailable, KVMHost.skipReason))
struct StatisticsTests {
    /// Counts exits to user space. (On this PVM host real-mode code is emulated, so the kernel counts
    /// these in `exits` and `insn_emulation`, not in `io_exits`; `exits` is counted on every host.)
    @Test func vcpuStatisticsCountExits() throws {
        var code = X86Code<Real16>()
        for value in UInt8(1)...5 {
            code.mov(.al, value)
            code.out(port: 0x80)
        }
        code.hlt()
        let machine = try RealModeMachine(code: try code.assemble())
        let statistics = try machine.vcpu.statistics()
        #expect(statistics.descriptors.contains { $0.name == "exits" && $0.type == KVMStatsType.cumulative })
        #expect(statistics.id.contains("vcpu"))
        let before = try statistics.values()
        var outs = 0
        while case .io = try machine.vcpu.run() { outs += 1 }
        let after = try statistics.values()
        #expect(outs == 5, "port writes seen")
        let exits = (after["exits"]?.first ?? 0) - (before["exits"]?.first ?? 0)
        let halts = (after["halt_exits"]?.first ?? 0) - (before["halt_exits"]?.first ?? 0)
        #expect(exits == 6, "5 port writes and a halt")
        #expect(halts == 1)
        #expect(try statistics.value("exits") == after["exits"]?.first)
    }

    @Test func vmStatisticsAreReadable() throws {
        let vm = try KVMSystem().createVM()
        let statistics = try vm.statistics()
        #expect(!statistics.descriptors.isEmpty)
        let values = try statistics.values()
        #expect(values.count == statistics.descriptors.count)
    }
}
