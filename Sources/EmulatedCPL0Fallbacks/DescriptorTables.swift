// The guest's descriptor tables as the fallbacks read them: a 64-bit IDT gate (handler, selector, IST,
// type), and a GDT code/data descriptor turned into KVM's `kvm_segment`.

import KVM
import KVMBindings

/// One 16-byte 64-bit IDT entry (Intel SDM vol. 3 §6.14.1).
struct InterruptGate: Equatable {
    var handler: UInt64
    var selector: UInt16
    /// 0 for the current stack, else the TSS's IST slot (1-7).
    var ist: UInt8
    /// P, DPL and the 4-bit type.
    var attributes: UInt8

    var isPresentInterruptOrTrapGate: Bool { attributes & 0x80 != 0 && (gateType == 0xE || gateType == 0xF) }
    /// An interrupt gate clears IF on delivery; a trap gate does not.
    var isInterruptGate: Bool { gateType == 0xE }
    var dpl: UInt8 { (attributes >> 5) & 3 }
    private var gateType: UInt8 { attributes & 0xF }

    init(_ bytes: [UInt8]) {
        let low = LittleEndian.load(UInt64.self, from: bytes, at: 0) ?? 0
        let high = LittleEndian.load(UInt32.self, from: bytes, at: 8) ?? 0
        handler = (low & 0xFFFF) | ((low >> 48) & 0xFFFF) << 16 | UInt64(high) << 32
        selector = UInt16(truncatingIfNeeded: low >> 16)
        ist = UInt8(truncatingIfNeeded: low >> 32) & 7
        attributes = UInt8(truncatingIfNeeded: low >> 40)
    }

    /// Gate `vector` of the IDT in `special`, or nil when the IDT's limit excludes it or it is unmapped.
    static func read(vector: UInt64, special: KVMSRegs, guest: GuestVirtualMemory) -> InterruptGate? {
        guard UInt64(special.idt.limit) >= vector * 16 + 15 else { return nil }
        let bytes = guest.read(special.idt.base &+ vector * 16, count: 16)
        guard bytes.count == 16 else { return nil }
        return InterruptGate(bytes)
    }
}

extension KVMSegment {
    /// The segment register loaded with `selector` from the 8-byte GDT descriptor `raw`.
    init(descriptor raw: UInt64, selector: UInt16) {
        self.init()
        self.selector = selector
        base = (raw >> 16) & 0xFF_FFFF | (raw >> 32) & 0xFF00_0000
        let limit = UInt32(truncatingIfNeeded: raw & 0xFFFF | (raw >> 32) & 0xF_0000)
        type = UInt8(truncatingIfNeeded: raw >> 40) & 0xF
        s = UInt8(truncatingIfNeeded: raw >> 44) & 1
        dpl = UInt8(truncatingIfNeeded: raw >> 45) & 3
        present = UInt8(truncatingIfNeeded: raw >> 47) & 1
        avl = UInt8(truncatingIfNeeded: raw >> 52) & 1
        l = UInt8(truncatingIfNeeded: raw >> 53) & 1
        db = UInt8(truncatingIfNeeded: raw >> 54) & 1
        g = UInt8(truncatingIfNeeded: raw >> 55) & 1
        self.limit = g == 1 ? (limit << 12) | 0xFFF : limit
    }

    /// A flat 64-bit ring-0 code segment (type 0xB: execute/read, accessed; L = 1), what `syscall` loads
    /// into CS from STAR[47:32].
    static func flatKernelCode(selector: UInt16) -> KVMSegment {
        KVMSegment(descriptor: 0x00AF_9B00_0000_FFFF, selector: selector & ~3)
    }

    /// A flat ring-0 data segment (type 0x3: read/write, accessed), what `syscall` loads into SS.
    static func flatKernelData(selector: UInt16) -> KVMSegment {
        KVMSegment(descriptor: 0x00CF_9300_0000_FFFF, selector: selector & ~3)
    }
}
