// Where boot puts what the products do not place themselves: the ACPI tables. The loader's structures
// (zero page or start_info at 0x6000-0x7FFF, command line at 0x20000) are LinuxLoader's `BootLayout`; the
// boot vCPU's GDT, IDT and page tables its `BootProcessorLayout`.

import LinuxLoader

enum GuestLayout {
    /// ACPI tables: RSDP first (Linux also scans 0xE0000-0xFFFFF for it), then XSDT, FADT, DSDT, MADT.
    static let acpiBase: UInt64 = MemoryMap.biosAreaStart
}
