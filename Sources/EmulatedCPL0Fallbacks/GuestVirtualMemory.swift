// The guest as the fallbacks see it: a vCPU in 64-bit mode with paging on, its memory read and written
// by guest-virtual address through X86Setup's GuestPageWalk (KVM_TRANSLATE, else the software walk;
// every access bounds-checked by GuestMemory), and its IDT gates and GDT descriptors decoded by
// X86Setup's GateDescriptor and SegmentDescriptor.

import KVM
import KVMBindings
import X86Setup

struct GuestVirtualMemory {
    let vcpu: VCPU
    let memory: GuestMemory
    let special: KVMSRegs

    /// `count` bytes at `linear`, page by page; fewer when a page is unmapped.
    func read(_ linear: UInt64, count: Int) -> [UInt8] {
        GuestPageWalk.read(linear, count: count, special: special, memory: memory, vcpu: vcpu)
    }

    /// Writes `bytes` at `linear`, page by page; false if any page is unmapped.
    func write(_ bytes: [UInt8], at linear: UInt64) -> Bool {
        GuestPageWalk.write(bytes, at: linear, special: special, memory: memory, vcpu: vcpu)
    }

    /// `count` little-endian 64-bit words at `linear`, or nil if any byte is unmapped.
    func words(_ linear: UInt64, count: Int) -> [UInt64]? {
        let reader = LittleEndianReader(read(linear, count: count * 8))
        guard reader.bytes.count == count * 8 else { return nil }
        return (0..<count).map { reader.read(UInt64.self, at: $0 * 8)! }
    }

    /// IDT gate `vector`, or nil when the IDT's limit excludes it or it is unmapped.
    func gate(vector: UInt64) -> GateDescriptor? {
        guard UInt64(special.idt.limit) >= vector * 16 + 15, let halves = words(special.idt.base &+ vector * 16, count: 2) else {
            return nil
        }
        return GateDescriptor(low: halves[0], high: halves[1])
    }

    /// The GDT descriptor `selector` names, or nil for an LDT selector, one past the GDT's limit, or
    /// an unmapped entry.
    func descriptor(selector: UInt16) -> SegmentDescriptor? {
        let index = UInt64(selector & ~7)
        guard selector & 4 == 0, index + 7 <= UInt64(special.gdt.limit),
            let raw = words(special.gdt.base &+ index, count: 1)?.first
        else { return nil }
        return SegmentDescriptor(encoded: raw)
    }
}

extension GateDescriptor {
    /// A present 64-bit interrupt or trap gate: one the CPU delivers through.
    var isPresentInterruptOrTrapGate: Bool { present && (type == .interruptGate || type == .trapGate) }
}

/// `0x…` hexadecimal, for messages.
func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }
