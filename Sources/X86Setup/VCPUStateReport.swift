#if arch(x86_64)
// What a VMM prints when a guest fails: the registers, the segment and control registers, and the
// instruction bytes around RIP (RIP translated through the guest's page tables by GuestPageWalk; bytes
// that are not mapped are left out rather than guessed).

import KVM
import KVMBindings

/// A multi-line, human-readable dump of an x86 vCPU's state, for failure reports.
///
/// ```swift
/// case .shutdown:
///     print("triple fault\n" + VCPUStateReport.describe(vcpu, memory: vm.memory))
/// ```
public enum VCPUStateReport {
    /// General, segment, descriptor-table and control registers, then ``codeLine(rip:special:memory:vcpu:)``.
    public static func describe(_ vcpu: VCPU, memory: GuestMemory) -> String {
        guard let r = try? vcpu.registers(), let s = try? vcpu.specialRegisters() else {
            return "  (the vCPU's registers could not be read)\n"
        }
        func h(_ value: UInt64) -> String { hex(value, digits: 16) }
        var text = ""
        text += "  RAX=\(h(r.rax)) RBX=\(h(r.rbx)) RCX=\(h(r.rcx)) RDX=\(h(r.rdx))\n"
        text += "  RSI=\(h(r.rsi)) RDI=\(h(r.rdi)) RBP=\(h(r.rbp)) RSP=\(h(r.rsp))\n"
        text += "  R8 =\(h(r.r8)) R9 =\(h(r.r9)) R10=\(h(r.r10)) R11=\(h(r.r11))\n"
        text += "  R12=\(h(r.r12)) R13=\(h(r.r13)) R14=\(h(r.r14)) R15=\(h(r.r15))\n"
        text += "  RIP=\(h(r.rip)) RFLAGS=\(hex(r.rflags, digits: 8)) CPL=\(s.cs.selector & 3)\n"
        for (name, segment) in [("CS", s.cs), ("SS", s.ss), ("DS", s.ds), ("ES", s.es), ("FS", s.fs), ("GS", s.gs), ("TR", s.tr)] {
            text += "  \(name) =\(hex(segment.selector, digits: 4)) base=\(h(segment.base)) limit=\(hex(segment.limit, digits: 8))"
            text += " type=\(segment.type) dpl=\(segment.dpl) l=\(segment.l) db=\(segment.db)\n"
        }
        text += "  GDT=\(h(s.gdt.base)) limit \(hex(s.gdt.limit, digits: 4))  IDT=\(h(s.idt.base)) limit \(hex(s.idt.limit, digits: 4))\n"
        text += "  CR0=\(h(s.cr0)) CR2=\(h(s.cr2)) CR3=\(h(s.cr3)) CR4=\(h(s.cr4)) EFER=\(h(s.efer))\n"
        text += "  " + codeLine(rip: r.rip, special: s, memory: memory, vcpu: vcpu) + "\n"
        return text
    }

    /// "Code (RIP … = physical …): xx xx <xx> xx …": up to 16 bytes before RIP (when mapped) and 16 from it.
    /// Outside long mode RIP is taken relative to CS's base.
    public static func codeLine(rip: UInt64, special: KVMSRegs, memory: GuestMemory, vcpu: VCPU?) -> String {
        let longMode = ExtendedFeatureEnable(rawValue: special.efer).contains(.longModeActive)
        let linear = longMode ? rip : (special.cs.base &+ rip) & 0xFFFF_FFFF
        guard let physical = GuestPageWalk.translate(linear, special: special, memory: memory, vcpu: vcpu) else {
            return "Code: RIP \(hex(linear)) is not mapped"
        }
        let before = GuestPageWalk.read(linear &- 16, count: 16, special: special, memory: memory, vcpu: vcpu)
        let at = GuestPageWalk.read(linear, count: 16, special: special, memory: memory, vcpu: vcpu)
        let hexBytes = { (bytes: ArraySlice<UInt8>) in bytes.map { hex($0, digits: 2).dropFirst(2) }.joined(separator: " ") }
        var line = "Code (RIP \(hex(linear)) = physical \(hex(physical))): "
        if before.count == 16 { line += hexBytes(before[...]) + " " }
        if let first = at.first { line += "<\(hex(first, digits: 2).dropFirst(2))> " + hexBytes(at.dropFirst()) }
        return line
    }

    private static func hex<T: BinaryInteger>(_ value: T, digits: Int = 0) -> String {
        let text = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
#endif
