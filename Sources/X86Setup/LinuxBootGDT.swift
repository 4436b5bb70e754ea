#if arch(x86_64)
import KVM

/// The GDT a VMM hands Linux (and other PVH/multiboot kernels) at entry, at selectors the boot
/// protocols name: 32-bit code 0x08 (PVH, multiboot), 64-bit code 0x10 (`__BOOT_CS`), data 0x18
/// (`__BOOT_DS`) and a TSS 0x20 (base 0: the kernel loads its own before it needs one), with an
/// empty IDT beside it. The kernel replaces all of them early.
public enum LinuxBootGDT {
    public static let code32Selector: UInt16 = 0x08
    public static let code64Selector: UInt16 = 0x10
    public static let dataSelector: UInt16 = 0x18
    public static let taskStateSelector: UInt16 = 0x20

    /// The TSS descriptor: base 0, limit 0x67, busy (as TR holds it).
    public static let taskState = SystemSegmentDescriptor(base: 0, limit: 0x67, type: .busyTaskState)

    /// The table: null, code32, code64, data, TSS (two slots): 0x30 bytes.
    public static var table: GlobalDescriptorTable {
        var gdt = GlobalDescriptorTable()
        gdt.append(.flatCode32())
        gdt.append(.flatCode64())
        gdt.append(.flatData())
        gdt.append(taskState)
        return gdt
    }

    /// Writes the GDT at `gdt` and an empty 8-byte IDT at `idt`.
    public static func write(into memory: GuestMemory, gdt: GuestAddress, idt: GuestAddress) throws(GuestMemoryError) {
        try memory.write(bytes: table.bytes, at: gdt)
        try memory.write(bytes: [UInt8](repeating: 0, count: 8), at: idt)
    }

    /// 64-bit entry (Linux's 64-bit boot protocol): CS = 0x10, data = 0x18, paging with `cr3`.
    public static func longModeEntry(gdt: GuestAddress, idt: GuestAddress, cr3: UInt64) -> EntryState {
        .longMode(
            cr3: cr3, gdt: table.register(base: gdt.rawValue), idt: DescriptorTableRegister(base: idt.rawValue, limit: 0),
            code: LoadedSegment(selector: code64Selector, descriptor: .flatCode64()),
            data: LoadedSegment(selector: dataSelector, descriptor: .flatData()),
            taskState: LoadedTaskState(selector: taskStateSelector, descriptor: taskState))
    }

    /// 32-bit entry (PVH, multiboot): CS = 0x08, data = 0x18, paging off.
    public static func protectedModeEntry(gdt: GuestAddress, idt: GuestAddress) -> EntryState {
        .protectedMode32(
            gdt: table.register(base: gdt.rawValue), idt: DescriptorTableRegister(base: idt.rawValue, limit: 0),
            code: LoadedSegment(selector: code32Selector, descriptor: .flatCode32()),
            data: LoadedSegment(selector: dataSelector, descriptor: .flatData()),
            taskState: LoadedTaskState(selector: taskStateSelector, descriptor: taskState))
    }
}
#endif
