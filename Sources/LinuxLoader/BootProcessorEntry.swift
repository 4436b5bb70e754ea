// How the boot vCPU enters a loaded kernel on x86: the boot GDT and an empty IDT, identity page tables for
// the 64-bit entry, and the registers the boot protocol names. Every VMM that boots Linux needs exactly
// this after `KernelLoader.load`, so it lives beside the loader rather than in each VMM.

#if arch(x86_64)
import KVM
import KVMBindings
import X86Setup

/// Where the boot vCPU's structures go in guest-physical memory. The defaults sit in the room
/// ``BootLayout`` leaves for them below 1 MiB (0x500-0x5FFF, 0x8000-0xFFFF).
public struct BootProcessorLayout: Equatable, Sendable {
    /// X86Setup's `LinuxBootGDT` (null, code32 0x08, code64 0x10 = `__BOOT_CS`, data 0x18 = `__BOOT_DS`, TSS 0x20).
    public var gdt: GuestAddress = 0x500
    /// An empty IDT (limit 0): the kernel installs its own before enabling interrupts.
    public var idt: GuestAddress = 0x540
    /// The initial stack pointer (Linux's entry points set their own; kept sane).
    public var stackTop: UInt64 = 0x8FF0
    /// Identity page tables for the 64-bit entry: a PML4, a PDPT and one page directory per GiB.
    public var pageTables: GuestAddress = 0x9000
    /// How much low memory the 64-bit entry's page tables identity-map, in GiB (2 MiB pages).
    public var identityMappedGiB = 4

    /// The default layout.
    public init() {}
}

/// The boot vCPU's state for entering a loaded kernel.
public struct BootProcessorState: Sendable {
    /// Control, segment and descriptor-table registers: 64-bit long mode with paging (CS 0x10, data
    /// 0x18), or 32-bit flat protected mode (CS 0x08) for PVH and multiboot.
    public var special: X86Setup.EntryState
    /// RIP at the entry point, RFLAGS = 2, and RSI (zero page), EBX (start_info, multiboot information)
    /// and EAX (the multiboot magic) as the loader says.
    public var registers: KVMRegs
}

extension LoadedKernel {
    /// Writes the boot GDT, an empty IDT and, for the 64-bit entry, identity page tables into `memory`,
    /// and returns the state to give the boot vCPU (`vcpu.setSpecialRegisters(state.special.applied(to:))`,
    /// `vcpu.setRegisters(state.registers)`).
    public func prepareBootProcessor(into memory: GuestMemory, layout: BootProcessorLayout = BootProcessorLayout()) throws
        -> BootProcessorState
    {
        try LinuxBootGDT.write(into: memory, gdt: layout.gdt, idt: layout.idt)
        let special: X86Setup.EntryState
        if entry.mode == .longMode64 {
            var tables = try PageTableBuilder(at: layout.pageTables, maximumTables: 2 + layout.identityMappedGiB)
            try tables.identityMap(size: UInt64(layout.identityMappedGiB) << 30, pageSize: .size2MiB)
            try tables.write(into: memory)
            special = LinuxBootGDT.longModeEntry(gdt: layout.gdt, idt: layout.idt, cr3: layout.pageTables.rawValue)
        } else {
            special = LinuxBootGDT.protectedModeEntry(gdt: layout.gdt, idt: layout.idt)
        }
        let registers = X86Setup.EntryState.registers(rip: entry.instructionPointer.rawValue, rsp: layout.stackTop) { registers in
            registers.rsi = entry.rsi
            registers.rbx = entry.rbx
            registers.rax = entry.rax  // multiboot: EAX = 0x2BADB002 (0 otherwise)
        }
        return BootProcessorState(special: special, registers: registers)
    }
}
#endif
