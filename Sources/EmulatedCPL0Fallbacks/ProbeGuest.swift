// The throwaway guest the emulator probe runs, set up by X86Setup's LongModeSetup: 2 MiB of RAM at
// guest-physical 0, its GDT (kernel and user segments, a TSS), an IDT of 32 empty gates, and page tables
// that map the RAM twice: user-accessible at 0 and supervisor-only at the top 2 GiB (-2 GiB, where Linux
// keeps its text), so that a probe can run code at CPL0 or at CPL3 and enter a "kernel in the upper
// half" through `syscall`.

import KVM
import KVMBindings
import X86Setup

struct ProbeGuest {
    static let memorySize = 0x20_0000
    static let idt: GuestAddress = 0x700
    /// The upper-half alias of guest-physical 0, supervisor-only.
    static let kernelBase = PageTableBuilder.kernelTextBase

    /// What LongModeSetup wrote.
    let setup: LongModeSetup.Result
    private var gates = InterruptDescriptorTable()

    /// Writes the GDT, TSS (RSP0 = `kernelStack`), an empty IDT of 32 gates and the page tables.
    init(writingInto memory: GuestMemory, kernelStack: UInt64 = 0) throws {
        setup = try LongModeSetup.write(
            into: memory,
            layout: LongModeSetup.Layout(
                identityMappedSize: UInt64(Self.memorySize), kernelStackTop: kernelStack, kernelTextAlias: true))
        gates[31] = GateDescriptor(offset: 0, selector: 0, present: false)
        try memory.write(bytes: gates.bytes, at: Self.idt)
    }

    /// Sets IDT gate `vector` to a 64-bit interrupt gate to `handler` (kernel code, DPL 0, no IST).
    mutating func setGate(_ vector: UInt8, handler: UInt64, in memory: GuestMemory) throws(GuestMemoryError) {
        gates[vector] = .interrupt(handler: handler, selector: LongModeSetup.kernelCodeSelector)
        try memory.write(bytes: gates.bytes, at: Self.idt)
    }

    /// 64-bit mode with paging on, at CPL0 (or CPL3 with `user`), the tables above loaded; EFER.SCE and
    /// NXE set, CR0 = PE|ET|PG and CR4 = PAE, as a probe's instructions expect.
    func specialRegisters(_ base: KVMSRegs, user: Bool) -> KVMSRegs {
        var entry = user ? setup.userEntry : setup.kernelEntry
        entry.idt = DescriptorTableRegister(base: Self.idt.rawValue, limit: gates.limit)
        entry.cr0 = [.protectionEnable, .extensionType, .paging]
        entry.cr4 = .physicalAddressExtension
        entry.efer.formUnion([.systemCallExtensions, .noExecuteEnable])
        return entry.applied(to: base)
    }
}
