#if arch(x86_64)
import Glibc
import KVM
import KVMBindings
import Testing
import X86Assembler
import X86Setup

/// Real VMs entered with X86Setup's state, running X86Assembler code. Skipped where /dev/kvm is
/// absent or not accessible.
@Suite(.serialized, .enabled(if: access("/dev/kvm", R_OK | W_OK) == 0, "/dev/kvm is absent or not accessible: these tests need KVM"))
struct EntryStateVMTests {
    static func run(_ vcpu: VCPU) throws -> VCPUExit {
        while true {
            let exit = try vcpu.run()
            if case .interrupted = exit { continue }
            return exit
        }
    }

    /// Long mode through LinuxBootGDT and a PageTableBuilder with a high-half alias of the first
    /// 2 MiB: the code starts in the identity map, jumps to its own high-half alias, reports RIP's
    /// top bits by port I/O, stores through the high half and halts.
    @Test func longModeWithHighHalfMappingRunsCode() throws {
        let kvm = try KVMSystem()
        let vm = try kvm.createVM()
        _ = try vm.mapMemory(slot: 0, at: 0, size: 0x20_0000)
        try LinuxBootGDT.write(into: vm.memory, gdt: 0x500, idt: 0x540)
        var tables = try PageTableBuilder(at: 0x1000, maximumTables: 8)
        try tables.identityMap(size: 0x20_0000, pageSize: .size2MiB)
        try tables.map(virtual: PageTableBuilder.kernelTextBase, physical: 0, size: 0x20_0000, pageSize: .size2MiB)
        let cr3 = try tables.write(into: vm.memory)

        let codeAddress: UInt64 = 0x8000
        var code = LongModeCode(origin: codeAddress)
        let high = code.makeLabel()
        code.movabs(.rax, addressOf: high)
        code.movabs(.rcx, PageTableBuilder.kernelTextBase)
        code.add(.rax, .rcx)                      // the label's high-half alias
        code.emit(0xFF, 0xE0)                     // jmp rax
        code.bind(high)
        code.mov(.dx, 0x80)
        code.movabs(.rax, 0x1234_5678)
        code.outDXEAX()                           // exit 1: port I/O from the high half
        code.movabs(.rbx, PageTableBuilder.kernelTextBase + 0x9000)
        code.store(.rax, at: .rbx)                // physical 0x9000
        code.hlt()
        try vm.memory.write(bytes: try code.assemble(), at: GuestAddress(codeAddress))

        let vcpu = try vm.createVCPU(id: 0)
        try vcpu.setCPUID(CPUIDPolicy().entries(for: 0, cpuCount: 1, from: kvm.supportedCPUID()))
        let entry = LinuxBootGDT.longModeEntry(gdt: 0x500, idt: 0x540, cr3: cr3)
        try vcpu.setSpecialRegisters(entry.applied(to: try vcpu.specialRegisters()))
        try vcpu.setRegisters(EntryState.registers(rip: codeAddress, rsp: 0x7000))
        try vcpu.setFPU(FPUDefaults.state)

        let special = try vcpu.specialRegisters()
        #expect(special.efer & ExtendedFeatureEnable.longModeActive.rawValue != 0)
        #expect(special.cs.l == 1 && special.cs.selector == 0x10)

        let first = try Self.run(vcpu)
        guard case .io(let io) = first else { Issue.record("expected port I/O, got \(first)"); return }
        #expect(io.port == 0x80 && io.size == 4 && io.value == 0x1234_5678)
        #expect(try vcpu.registers().rip >> 32 == 0xFFFF_FFFF, "running in the high half")
        let second = try Self.run(vcpu)
        guard case .halt = second else { Issue.record("expected hlt, got \(second)"); return }
        #expect(try vm.memory.load(UInt64.self, at: 0x9000) == 0x1234_5678)
        // The guest's tables translate the high half the same way KVM does.
        let translated = GuestPageWalk.translate(
            PageTableBuilder.kernelTextBase + 0x9000, special: try vcpu.specialRegisters(), memory: vm.memory)
        #expect(translated == 0x9000)
    }

    /// The 32-bit flat entry (PVH, multiboot): paging off, CS 0x08, EBX carries the argument.
    @Test func protectedModeEntryRunsCode() throws {
        let kvm = try KVMSystem()
        let vm = try kvm.createVM()
        _ = try vm.mapMemory(slot: 0, at: 0, size: 0x10_0000)
        try LinuxBootGDT.write(into: vm.memory, gdt: 0x500, idt: 0x540)
        var code = ProtectedModeCode(origin: 0x1_0000)
        code.mov(.eax, .ebx)
        code.add(.eax, 1)
        code.store(.eax, at: .ebx)                // [argument] = argument + 1
        code.mov(.dx, 0xF4)
        code.outDXEAX()
        code.hlt()
        try vm.memory.write(bytes: try code.assemble(), at: 0x1_0000)

        let vcpu = try vm.createVCPU(id: 0)
        try vcpu.setCPUID(kvm.supportedCPUID())
        try vcpu.setSpecialRegisters(LinuxBootGDT.protectedModeEntry(gdt: 0x500, idt: 0x540).applied(to: try vcpu.specialRegisters()))
        try vcpu.setRegisters(EntryState.registers(rip: 0x1_0000, rsp: 0x8000) { $0.rbx = 0x6000 })
        let exit = try Self.run(vcpu)
        guard case .io(let io) = exit else { Issue.record("expected port I/O, got \(exit)"); return }
        #expect(io.port == 0xF4 && io.value == 0x6001)
        #expect(try vm.memory.load(UInt32.self, at: 0x6000) == 0x6001)
        #expect(try vcpu.specialRegisters().cs.db == 1)
    }

    /// Boot MSRs, FPU defaults and the LAPIC LINT setup are accepted and read back.
    @Test func bootMSRsFPUAndLINTs() throws {
        let kvm = try KVMSystem()
        let vm = try kvm.createVM()
        try vm.createIRQChip()
        let vcpu = try vm.createVCPU(id: 0)
        try vcpu.setCPUID(kvm.supportedCPUID())
        let supported = Set(try kvm.msrIndexList())
        let refused = BootMSRs.set(on: vcpu, supported: supported)
        let expected = BootMSRs.entries(supported: supported).filter { !refused.contains($0.index) && $0.index != 0x10 }
        let read = try vcpu.msrs(expected.map(\.index))
        for (want, got) in zip(expected, read) {
            #expect(got.data == want.data, "MSR 0x\(String(want.index, radix: 16))")
        }
        #expect(read.count == expected.count)
        #expect(!supported.contains(ModelSpecificRegister.miscEnable.rawValue) || !refused.contains(0x1A0))

        try vcpu.setFPU(FPUDefaults.state)
        let fpu = try vcpu.fpu()
        // Some hosts' KVM_GET_FPU does not report MXCSR (this PVM host returns 0); the XSAVE image does.
        let mxcsr = (try? vcpu.xsave())?.mxcsr ?? fpu.mxcsr
        #expect(fpu.fcw == 0x37F && mxcsr == 0x1F80, "fcw 0x\(String(fpu.fcw, radix: 16)) mxcsr 0x\(String(mxcsr, radix: 16))")

        try vcpu.setLAPIC(LocalAPICSetup.configuringLINTs(try vcpu.lapic()))
        let lapic = try vcpu.lapic()
        #expect(LocalAPICSetup.register(LocalAPICSetup.lint0Offset, in: lapic) & 0x700 == 0x700)
        #expect(LocalAPICSetup.register(LocalAPICSetup.lint1Offset, in: lapic) & 0x700 == 0x400)
    }
}
#endif
