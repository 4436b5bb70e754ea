// The vCPU state boot gives Linux at its entry points, from X86Setup: the boot GDT and an empty IDT
// (LinuxBootGDT), identity page tables for the first 4 GiB in 2 MiB pages (64-bit entry), the entry
// state for the 64-bit boot protocol or the 32-bit PVH entry, all at GuestLayout's addresses.

import KVM
import KVMBindings
import X86Setup

// The X86Setup types boot's other files name (one import here serves the whole module).
typealias CPUIDPolicy = X86Setup.CPUIDPolicy
typealias GuestPageWalk = X86Setup.GuestPageWalk
typealias SegmentDescriptor = X86Setup.SegmentDescriptor

enum CPUSetup {
    enum EntryMode { case longMode64, protected32 }

    /// EFER.LMA, for code that asks whether a vCPU is in long mode.
    static let eferLMA = ExtendedFeatureEnable.longModeActive.rawValue

    /// Writes the GDT, the empty IDT and (for the 64-bit entry) the page tables into guest memory.
    static func writeTables(into memory: GuestMemory, mode: EntryMode) throws {
        try LinuxBootGDT.write(into: memory, gdt: GuestAddress(GuestLayout.gdt), idt: GuestAddress(GuestLayout.idt))
        if mode == .longMode64 { try pageTables().write(into: memory) }
    }

    /// PML4 at GuestLayout.pml4, then the PDPT and the page directories after it.
    static func pageTables() throws -> PageTableBuilder {
        var tables = try PageTableBuilder(at: GuestAddress(GuestLayout.pml4), maximumTables: 2 + GuestLayout.identityMappedGiB)
        try tables.identityMap(size: UInt64(GuestLayout.identityMappedGiB) << 30, pageSize: .size2MiB)
        return tables
    }

    /// The entry state for `mode`: 64-bit (CS 0x10, data 0x18, paging on) or 32-bit flat (CS 0x08).
    static func entryState(mode: EntryMode) -> EntryState {
        switch mode {
        case .longMode64:
            LinuxBootGDT.longModeEntry(gdt: GuestAddress(GuestLayout.gdt), idt: GuestAddress(GuestLayout.idt), cr3: GuestLayout.pml4)
        case .protected32:
            LinuxBootGDT.protectedModeEntry(gdt: GuestAddress(GuestLayout.gdt), idt: GuestAddress(GuestLayout.idt))
        }
    }

    /// `base` (the vCPU's KVM_GET_SREGS) with the entry state for `mode`.
    static func specialRegisters(_ base: KVMSRegs, mode: EntryMode) -> KVMSRegs {
        entryState(mode: mode).applied(to: base)
    }

    /// General registers: RIP = entry, RFLAGS = 2, and the entry's argument (RSI = zero page for the
    /// 64-bit protocol, EBX = start_info for PVH).
    static func registers(entry: UInt64, mode: EntryMode, argument: UInt64) -> KVMRegs {
        EntryState.registers(rip: entry, rsp: GuestLayout.stackTop) { registers in
            switch mode {
            case .longMode64: registers.rsi = argument
            case .protected32: registers.rbx = argument
            }
        }
    }
}
