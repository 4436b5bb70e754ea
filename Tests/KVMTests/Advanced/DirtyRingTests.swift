import KVM
import X86Assembler
import KVMBindings
import Testing

@Suite(.enabled(if: KVMHost.isAvailable, KVMHost.skipReason))
struct DirtyRingTests {
    /// The guest writes pages 2 and 5 of the dirty-logged slot (through ES, since real mode addresses
    /// only 1 MiB with DS = 0); the ring reports exactly those pages of slot 1.
    @Test func ringReportsExactlyThePagesTheGuestWrote() throws {
        var code = X86Code<Real16>()
        code.mov(.ax, 0x1000)            // ES:0 = 0x10000... set below
        code.emit(0x8E, 0xC0)            // mov es, ax
        code.mov(.ax, 0xFFFF)
        code.emit(0x8E, 0xD8)            // mov ds, ax: DS base 0xFFFF0, so DS:0x0010 = 0x100000
        code.storeByte(0xAA, at: 0x0010 + 0x2000)   // page 2 of the data slot
        code.storeByte(0xBB, at: 0x0010 + 0x5000)   // page 5
        code.hlt()
        let machine = try RealModeMachine(code: try code.assemble(), dataFlags: .logDirtyPages) { vm in
            try vm.enableDirtyRing(bytes: 4096 * 4)
        }
        let ring = try machine.vcpu.dirtyRing()
        guard case .halt = try machine.vcpu.run() else { Issue.record("expected halt"); return }
        let pages = Set(ring.harvest().filter { $0.slot == 1 }.map { $0.pageIndex })
        #expect(pages == [2, 5])
        try machine.vm.resetDirtyRings()
        #expect(try machine.vm.memory.readBytes(at: GuestAddress(RealModeMachine.dataAddress + 0x2000), count: 1) == [0xAA])
        #expect(ring.harvest().isEmpty)
    }
}
