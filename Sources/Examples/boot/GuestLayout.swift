// Where the VMM puts its boot structures in guest-physical memory (all below 1 MiB, none in RAM
// that e820 hands to the kernel as free except the early pages Linux reserves itself). The loader's own
// (zero page or start_info at 0x6000-0x7FFF, command line at 0x20000) are LinuxLoader's `BootLayout`.

import LinuxLoader

enum GuestLayout {
    /// X86Setup's LinuxBootGDT (null, code32 0x08, code64 0x10 = __BOOT_CS, data 0x18 = __BOOT_DS, TSS 0x20).
    static let gdt: UInt64 = 0x500
    /// An empty IDT (limit 0): the kernel installs its own before enabling interrupts.
    static let idt: UInt64 = 0x540
    /// Initial stack pointer (unused by Linux's entry points, which set their own; kept sane).
    static let stackTop: UInt64 = 0x8FF0
    /// Identity page tables for the 64-bit entry: PML4, PDPT, then four PDs (4 GiB in 2 MiB pages).
    static let pml4: UInt64 = 0x9000
    static let identityMappedGiB = 4
    /// ACPI tables: RSDP first (Linux also scans 0xE0000-0xFFFFF for it), then XSDT, FADT, DSDT, MADT.
    static let acpiBase: UInt64 = MemoryMap.biosAreaStart
}
