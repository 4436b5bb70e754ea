// The throwaway guest the emulator probe runs: 2 MiB of RAM at guest-physical 0, a GDT with kernel and
// user segments and a TSS, an IDT, and page tables that map the RAM twice: user-accessible at 0 and
// supervisor-only at the top 2 GiB (-2 GiB, where Linux keeps its text), so that a probe can run code
// at CPL0 or at CPL3 and enter a "kernel in the upper half" through `syscall`.
//
// A private copy, not the project's x86 setup: the probes need a handful of fixed bytes, and keeping
// them here keeps this product dependent on the runtime alone.

import KVM
import KVMBindings

enum ProbeGuest {
    static let memorySize = 0x20_0000
    static let gdt: UInt64 = 0x500
    static let tss: UInt64 = 0x600
    static let idt: UInt64 = 0x700
    static let pml4: UInt64 = 0x1000
    /// The upper-half alias of guest-physical 0 (PML4 511, PDPT 510), supervisor-only.
    static let kernelBase: UInt64 = 0xFFFF_FFFF_8000_0000

    static let kernelCode: UInt16 = 0x08
    static let kernelData: UInt16 = 0x10
    static let userData: UInt16 = 0x18 | 3
    static let userCode: UInt16 = 0x20 | 3
    static let taskState: UInt16 = 0x28

    static let kernelCodeDescriptor: UInt64 = 0x00AF_9B00_0000_FFFF
    static let kernelDataDescriptor: UInt64 = 0x00CF_9300_0000_FFFF
    static let userDataDescriptor: UInt64 = 0x00CF_F300_0000_FFFF
    static let userCodeDescriptor: UInt64 = 0x00AF_FB00_0000_FFFF

    /// Writes the GDT, TSS (RSP0 = `kernelStack`), an empty IDT of 32 gates and the page tables.
    static func writeTables(into memory: GuestMemory, kernelStack: UInt64 = 0) throws(GuestMemoryError) {
        let tssDescriptor: UInt64 = 0x0000_8900_0000_0067 | (tss & 0xFF_FFFF) << 16
        let entries: [UInt64] = [0, kernelCodeDescriptor, kernelDataDescriptor, userDataDescriptor, userCodeDescriptor, tssDescriptor, 0]
        try memory.write(bytes: entries.flatMap(LittleEndian.bytes), at: GuestAddress(gdt))
        var taskStateSegment = [UInt8](repeating: 0, count: 104)
        taskStateSegment.replaceSubrange(4..<12, with: LittleEndian.bytes(kernelStack))  // RSP0
        taskStateSegment.replaceSubrange(102..<104, with: LittleEndian.bytes(UInt16(104)))  // no I/O bitmap
        try memory.write(bytes: taskStateSegment, at: GuestAddress(tss))
        try memory.write(bytes: [UInt8](repeating: 0, count: 32 * 16), at: GuestAddress(idt))
        // present | writable (| user); 0x80: a 2 MiB page.
        let user: UInt64 = 0x7, supervisor: UInt64 = 0x3
        try table(at: pml4, [0: 0x2000 | user, 511: 0x4000 | supervisor], memory)
        try table(at: 0x2000, [0: 0x3000 | user], memory)
        try table(at: 0x3000, [0: 0x80 | user], memory)
        try table(at: 0x4000, [510: 0x5000 | supervisor], memory)
        try table(at: 0x5000, [0: 0x80 | supervisor], memory)
    }

    private static func table(at address: UInt64, _ entries: [Int: UInt64], _ memory: GuestMemory) throws(GuestMemoryError) {
        var bytes = [UInt8](repeating: 0, count: 4096)
        for (index, value) in entries { bytes.replaceSubrange(index * 8..<index * 8 + 8, with: LittleEndian.bytes(value)) }
        try memory.write(bytes: bytes, at: GuestAddress(address))
    }

    /// Sets IDT gate `vector` to a 64-bit interrupt gate to `handler` (kernel code, DPL 0, no IST).
    static func setGate(_ vector: Int, handler: UInt64, in memory: GuestMemory) throws(GuestMemoryError) {
        let low = (handler & 0xFFFF) | UInt64(kernelCode) << 16 | 0x8E << 40 | ((handler >> 16) & 0xFFFF) << 48
        try memory.write(bytes: LittleEndian.bytes(low) + LittleEndian.bytes(handler >> 32), at: GuestAddress(idt + UInt64(vector) * 16))
    }

    /// 64-bit mode with paging on, at CPL0 (or CPL3 with `user`), the tables above loaded.
    static func specialRegisters(_ base: KVMSRegs, user: Bool) -> KVMSRegs {
        var special = base
        let code = KVMSegment(descriptor: user ? userCodeDescriptor : kernelCodeDescriptor, selector: user ? userCode : kernelCode)
        let data = KVMSegment(descriptor: user ? userDataDescriptor : kernelDataDescriptor, selector: user ? userData : kernelData)
        special.cs = code
        special.ds = data
        special.es = data
        special.fs = data
        special.gs = data
        special.ss = data
        var taskRegister = KVMSegment(descriptor: 0x0000_8B00_0000_0067 | (tss & 0xFF_FFFF) << 16, selector: taskState)
        taskRegister.s = 0
        special.tr = taskRegister
        special.gdt.base = gdt
        special.gdt.limit = 7 * 8 - 1
        special.idt.base = idt
        special.idt.limit = 32 * 16 - 1
        special.cr3 = pml4
        special.cr4 = X86Constants.cr4PAE
        special.cr0 = X86Constants.cr0PE | X86Constants.cr0ET | X86Constants.cr0PG
        special.efer = X86Constants.eferLME | X86Constants.eferLMA | X86Constants.eferSCE | X86Constants.eferNXE
        return special
    }
}
