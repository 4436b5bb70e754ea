import KVM
import X86Assembler
import KVMBindings
import Testing

@Suite(.enabled(if: KVMHost.isAvailable, KVMHost.skipReason))
struct SyncRegistersTests {
    /// The guest reports AL twice; between the two, the handler changes RAX through the sync area only.
    @Test func handlerReadsAndWritesRegistersWithoutIoctls() throws {
        var code = X86Code<Real16>()
        code.mov(.al, 0x11)
        code.out(port: 0x80)
        code.out(port: 0x80)
        code.hlt()
        let machine = try RealModeMachine(code: try code.assemble())
        let vcpu = machine.vcpu
        #expect(try vcpu.supportedSyncRegisters().contains(.regs))
        try vcpu.enableSyncRegisters([.regs, .sregs])

        guard case .io(let first) = try vcpu.run() else { Issue.record("expected port I/O"); return }
        #expect(first.value == 0x11)
        var synced = vcpu.syncedRegisters.regs
        #expect(synced.rax & 0xff == 0x11)
        #expect(synced.rip == (try vcpu.registers()).rip)
        #expect(vcpu.syncedRegisters.sregs.cs.selector == 0)
        synced.rax = 0x42
        vcpu.setSyncedRegisters(synced)

        guard case .io(let second) = try vcpu.run() else { Issue.record("expected port I/O"); return }
        #expect(second.value == 0x42)
        guard case .halt = try vcpu.run() else { Issue.record("expected halt"); return }
    }
}
