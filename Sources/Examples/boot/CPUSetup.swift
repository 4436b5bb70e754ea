// The vCPU state Linux expects at its entry points: a flat GDT, identity page tables (64-bit entry),
// control registers and EFER, boot MSRs, the FPU reset state and the local APIC's LINT pins.

import KVM
import KVMBindings

/// A GDT descriptor from the common 16-bit "flags" form: access byte in bits 0-7, then AVL, L, D/B, G
/// in bits 12-15 (e.g. 0xA09B is a present 64-bit ring-0 code segment).
struct SegmentDescriptor: Equatable {
    var flags: UInt16
    var base: UInt32
    /// 20-bit limit, in pages when G is set.
    var limit: UInt32

    static let code32 = SegmentDescriptor(flags: 0xC09B, base: 0, limit: 0xFFFFF)
    static let code64 = SegmentDescriptor(flags: 0xA09B, base: 0, limit: 0xFFFFF)
    static let data = SegmentDescriptor(flags: 0xC093, base: 0, limit: 0xFFFFF)
    static let tss = SegmentDescriptor(flags: 0x008B, base: 0, limit: 0x67)

    /// The 8-byte GDT entry.
    var encoded: UInt64 {
        let base = UInt64(self.base), limit = UInt64(self.limit), flags = UInt64(self.flags)
        return (base & 0xFF00_0000) << 32 | (base & 0x00FF_FFFF) << 16 | (limit & 0xFFFF) | (limit & 0xF_0000) << 32
            | (flags & 0xF0FF) << 40
    }

    /// The same segment as KVM's `kvm_segment`, loaded with `selector`.
    func segment(selector: UInt16) -> KVMSegment {
        var segment = KVMSegment()
        segment.base = UInt64(base)
        segment.selector = selector
        segment.type = UInt8(flags & 0xF)
        segment.s = UInt8((flags >> 4) & 1)
        segment.dpl = UInt8((flags >> 5) & 3)
        segment.present = UInt8((flags >> 7) & 1)
        segment.avl = UInt8((flags >> 12) & 1)
        segment.l = UInt8((flags >> 13) & 1)
        segment.db = UInt8((flags >> 14) & 1)
        segment.g = UInt8((flags >> 15) & 1)
        segment.limit = segment.g == 1 ? (limit << 12) | 0xFFF : limit
        return segment
    }
}

enum CPUSetup {
    enum EntryMode { case longMode64, protected32 }

    static let cr0PE: UInt64 = 1 << 0
    static let cr0ET: UInt64 = 1 << 4
    static let cr0PG: UInt64 = 1 << 31
    static let cr4PAE: UInt64 = 1 << 5
    static let eferLME: UInt64 = 1 << 8
    static let eferLMA: UInt64 = 1 << 10

    /// The boot GDT: null, code32 (0x08), code64 (0x10), data (0x18), TSS (0x20, 16 bytes).
    static func gdt() -> ByteBuffer {
        var gdt = ByteBuffer(count: 0x30)
        gdt.put(SegmentDescriptor.code32.encoded, at: Int(GuestLayout.code32Selector))
        gdt.put(SegmentDescriptor.code64.encoded, at: Int(GuestLayout.code64Selector))
        gdt.put(SegmentDescriptor.data.encoded, at: Int(GuestLayout.dataSelector))
        gdt.put(SegmentDescriptor.tss.encoded, at: Int(GuestLayout.tssSelector))
        return gdt
    }

    /// Identity page tables for the first `GuestLayout.identityMappedGiB` GiB in 2 MiB pages:
    /// (address, bytes) pairs to copy.
    static func identityPageTables() -> [(address: UInt64, bytes: ByteBuffer)] {
        var pml4 = ByteBuffer(count: 4096)
        pml4.put(GuestLayout.pdpt | 0x3, at: 0)  // present, writable
        var pdpt = ByteBuffer(count: 4096)
        var directories = ByteBuffer(count: 4096 * GuestLayout.identityMappedGiB)
        for gib in 0..<GuestLayout.identityMappedGiB {
            pdpt.put((GuestLayout.pageDirectories + UInt64(gib) * 4096) | 0x3, at: gib * 8)
            for entry in 0..<512 {
                let address = (UInt64(gib) << 30) | (UInt64(entry) << 21)
                directories.put(address | 0x83, at: (gib * 512 + entry) * 8)  // present, writable, 2 MiB page
            }
        }
        return [(GuestLayout.pml4, pml4), (GuestLayout.pdpt, pdpt), (GuestLayout.pageDirectories, directories)]
    }

    /// Writes the GDT, the empty IDT and (for the 64-bit entry) the page tables into guest memory.
    static func writeTables(into memory: GuestMemory, mode: EntryMode) throws {
        try memory.write(bytes: gdt().bytes, at: GuestAddress(GuestLayout.gdt))
        try memory.write(bytes: [UInt8](repeating: 0, count: 8), at: GuestAddress(GuestLayout.idt))
        if mode == .longMode64 {
            for table in identityPageTables() { try memory.write(bytes: table.bytes.bytes, at: GuestAddress(table.address)) }
        }
    }

    /// Special registers for the entry: 64-bit (CS 0x10, DS/ES/SS 0x18, paging on, EFER.LME|LMA) or
    /// 32-bit protected mode with paging off (PVH: CS 0x08, data 0x18).
    static func specialRegisters(_ base: KVMSRegs, mode: EntryMode) -> KVMSRegs {
        var special = base
        let data = SegmentDescriptor.data.segment(selector: GuestLayout.dataSelector)
        special.ds = data
        special.es = data
        special.fs = data
        special.gs = data
        special.ss = data
        special.tr = SegmentDescriptor.tss.segment(selector: GuestLayout.tssSelector)
        special.gdt.base = GuestLayout.gdt
        special.gdt.limit = 0x2F
        special.idt.base = GuestLayout.idt
        special.idt.limit = 0
        switch mode {
        case .longMode64:
            special.cs = SegmentDescriptor.code64.segment(selector: GuestLayout.code64Selector)
            special.cr3 = GuestLayout.pml4
            special.cr4 = cr4PAE
            special.cr0 = cr0PE | cr0ET | cr0PG
            special.efer = eferLME | eferLMA
        case .protected32:
            special.cs = SegmentDescriptor.code32.segment(selector: GuestLayout.code32Selector)
            special.cr3 = 0
            special.cr4 = 0
            special.cr0 = cr0PE | cr0ET
            special.efer = 0
        }
        return special
    }

    /// General registers: RIP = entry, RFLAGS = 2 (interrupts off), and the entry's argument (RSI =
    /// zero page for the 64-bit protocol, EBX = start_info for PVH).
    static func registers(entry: UInt64, mode: EntryMode, argument: UInt64) -> KVMRegs {
        var registers = KVMRegs()
        registers.rip = entry
        registers.rflags = 0x2
        registers.rsp = GuestLayout.stackTop
        registers.rbp = GuestLayout.stackTop
        switch mode {
        case .longMode64: registers.rsi = argument
        case .protected32: registers.rbx = argument
        }
        return registers
    }

    /// MSRs a firmware leaves in a known state: SYSENTER/SYSCALL MSRs and TSC zero, fast strings on
    /// (IA32_MISC_ENABLE bit 0), MTRRs enabled with write-back as the default type, TscFreqSel (AMD).
    static let bootMSRs: [(index: UInt32, value: UInt64)] = [
        (0x174, 0), (0x175, 0), (0x176, 0),  // IA32_SYSENTER_CS/ESP/EIP
        (0xC000_0081, 0), (0xC000_0082, 0), (0xC000_0083, 0), (0xC000_0084, 0),  // STAR, LSTAR, CSTAR, SFMASK
        (0xC000_0102, 0),  // KERNEL_GS_BASE
        (0x10, 0),  // IA32_TSC
        (0x1A0, 1),  // IA32_MISC_ENABLE: fast-string enable
        (0x2FF, 1 << 11 | 6),  // IA32_MTRR_DEF_TYPE: enabled, write-back
        // AMD HWCR.TscFreqSel (bit 24): the TSC counts at the P0 frequency, as firmware sets it (else Linux
        // warns "[Firmware Bug]: TSC doesn't count with P0 frequency!"). Older KVMs refuse the bit: then
        // it is reported with the other refused MSRs and the guest runs without it.
        (0xC001_0015, 1 << 24),
    ]

    /// Sets the boot MSRs KVM knows (`supported`); returns those it refused.
    @discardableResult
    static func setBootMSRs(on vcpu: VCPU, supported: Set<UInt32>) -> [UInt32] {
        let entries = bootMSRs.filter { supported.contains($0.index) }.map { msr -> KVMMSREntry in
            var entry = KVMMSREntry()
            entry.index = msr.index
            entry.data = msr.value
            return entry
        }
        if (try? vcpu.setMSRs(entries)) != nil { return [] }
        // Some MSR was refused: set them one at a time and report the rest.
        return entries.compactMap { entry in (try? vcpu.setMSRs([entry])) == nil ? entry.index : nil }
    }

    /// The x87/SSE reset state: FCW 0x37F, MXCSR 0x1F80.
    static func fpu() -> KVMFPU {
        var fpu = KVMFPU()
        fpu.fcw = 0x37F
        fpu.mxcsr = 0x1F80
        return fpu
    }

    /// LAPIC LVT LINT0 = ExtINT (the 8259's output), LINT1 = NMI, as firmware leaves them.
    static func configureLINTs(_ state: KVMLAPICState) -> KVMLAPICState {
        var state = state
        func setRegister(_ offset: Int, _ transform: (UInt32) -> UInt32) {
            var value: UInt32 = 0
            for index in 0..<4 { value |= UInt32(UInt8(bitPattern: state.regs[offset + index])) << (8 * index) }
            value = transform(value)
            for index in 0..<4 { state.regs[offset + index] = Int8(bitPattern: UInt8(truncatingIfNeeded: value >> (8 * index))) }
        }
        let deliveryModeMask: UInt32 = 0x700
        setRegister(0x350) { ($0 & ~deliveryModeMask) | 0x700 }  // LVT LINT0: ExtINT
        setRegister(0x360) { ($0 & ~deliveryModeMask) | 0x400 }  // LVT LINT1: NMI
        return state
    }
}
