#if arch(x86_64)
import KVMBindings

/// An 8-byte code or data segment descriptor (Intel SDM vol. 3 §3.4.5), field by field.
///
/// The fields are those of `struct kvm_segment`, so ``segment(selector:)`` gives the value
/// KVM_SET_SREGS loads into a segment register directly, without the guest executing a load.
/// ``init(encoded:)`` and ``encoded`` convert to and from the GDT entry losslessly.
public struct SegmentDescriptor: Hashable, Sendable {
    public var base: UInt32
    /// The raw 20-bit limit (in 4 KiB units when ``granularity`` is set).
    public var limit: UInt32
    /// The 4-bit type (bit 0: accessed; for code, bit 1: readable, bit 3: code; for data, bit 1: writable).
    public var type: UInt8
    /// S: true for code/data, false for system descriptors (TSS, LDT, gates: see
    /// ``SystemSegmentDescriptor`` and ``GateDescriptor`` for their 16-byte long-mode forms).
    public var isCodeOrData: Bool
    /// DPL, 0-3.
    public var privilegeLevel: UInt8
    public var present: Bool
    /// AVL: free for the OS.
    public var available: Bool
    /// L: 64-bit code segment.
    public var long: Bool
    /// D/B: default operand size 32 bits (must be false when ``long`` is set).
    public var defaultSize32: Bool
    /// G: the limit counts 4 KiB pages.
    public var granularity: Bool

    public init(
        base: UInt32, limit: UInt32, type: UInt8, isCodeOrData: Bool = true, privilegeLevel: UInt8 = 0,
        present: Bool = true, available: Bool = false, long: Bool = false, defaultSize32: Bool = false,
        granularity: Bool = false
    ) {
        self.base = base
        self.limit = limit & 0xF_FFFF
        self.type = type & 0xF
        self.isCodeOrData = isCodeOrData
        self.privilegeLevel = privilegeLevel & 3
        self.present = present
        self.available = available
        self.long = long
        self.defaultSize32 = defaultSize32
        self.granularity = granularity
    }

    /// From the 16-bit "flags" form Linux's `GDT_ENTRY(flags, base, limit)` uses: the access
    /// byte in bits 0-7 (type, S, DPL, P), then AVL, L, D/B, G in bits 12-15 (0xA09B is a present
    /// 64-bit ring-0 code segment, 0xC093 a flat data segment).
    public init(flags: UInt16, base: UInt32, limit: UInt32) {
        self.init(
            base: base, limit: limit, type: UInt8(flags & 0xF), isCodeOrData: flags & 0x10 != 0,
            privilegeLevel: UInt8((flags >> 5) & 3), present: flags & 0x80 != 0, available: flags & 0x1000 != 0,
            long: flags & 0x2000 != 0, defaultSize32: flags & 0x4000 != 0, granularity: flags & 0x8000 != 0)
    }

    /// Decodes a GDT/LDT entry.
    public init(encoded value: UInt64) {
        base = UInt32(truncatingIfNeeded: (value >> 16) & 0xFF_FFFF) | UInt32(truncatingIfNeeded: (value >> 56) & 0xFF) << 24
        limit = UInt32(truncatingIfNeeded: value & 0xFFFF) | UInt32(truncatingIfNeeded: (value >> 48) & 0xF) << 16
        type = UInt8(truncatingIfNeeded: (value >> 40) & 0xF)
        isCodeOrData = (value >> 44) & 1 == 1
        privilegeLevel = UInt8(truncatingIfNeeded: (value >> 45) & 3)
        present = (value >> 47) & 1 == 1
        available = (value >> 52) & 1 == 1
        long = (value >> 53) & 1 == 1
        defaultSize32 = (value >> 54) & 1 == 1
        granularity = (value >> 55) & 1 == 1
    }

    /// The 8-byte GDT/LDT entry.
    public var encoded: UInt64 {
        var value = UInt64(limit & 0xFFFF)
        value |= UInt64(base & 0xFF_FFFF) << 16
        value |= UInt64(type & 0xF) << 40
        value |= (isCodeOrData ? 1 : 0) << 44
        value |= UInt64(privilegeLevel & 3) << 45
        value |= (present ? 1 : 0) << 47
        value |= UInt64((limit >> 16) & 0xF) << 48
        value |= (available ? 1 : 0) << 52
        value |= (long ? 1 : 0) << 53
        value |= (defaultSize32 ? 1 : 0) << 54
        value |= (granularity ? 1 : 0) << 55
        value |= UInt64(base >> 24) << 56
        return value
    }

    /// Whether this is a code segment (S set, type bit 3 set).
    public var isCode: Bool { isCodeOrData && type & 0x8 != 0 }

    /// The limit in bytes, as `kvm_segment.limit` wants it.
    public var byteLimit: UInt32 {
        granularity ? (limit << 12) | 0xFFF : limit
    }

    /// The segment register's value after loading `selector` with this descriptor, as
    /// KVM_SET_SREGS takes it.
    public func segment(selector: UInt16) -> KVMSegment {
        var segment = KVMSegment()
        segment.base = UInt64(base)
        segment.limit = byteLimit
        segment.selector = selector
        segment.type = type
        segment.s = isCodeOrData ? 1 : 0
        segment.dpl = privilegeLevel
        segment.present = present ? 1 : 0
        segment.avl = available ? 1 : 0
        segment.l = long ? 1 : 0
        segment.db = defaultSize32 ? 1 : 0
        segment.g = granularity ? 1 : 0
        return segment
    }

    /// A flat (base 0, 4 GiB) 64-bit code segment, execute/read, accessed: 0x00AF9B000000FFFF at DPL 0.
    public static func flatCode64(privilegeLevel: UInt8 = 0) -> SegmentDescriptor {
        SegmentDescriptor(base: 0, limit: 0xF_FFFF, type: 0xB, privilegeLevel: privilegeLevel, long: true, granularity: true)
    }

    /// A flat 32-bit code segment, execute/read, accessed: 0x00CF9B000000FFFF at DPL 0.
    public static func flatCode32(privilegeLevel: UInt8 = 0) -> SegmentDescriptor {
        SegmentDescriptor(
            base: 0, limit: 0xF_FFFF, type: 0xB, privilegeLevel: privilegeLevel, defaultSize32: true, granularity: true)
    }

    /// A flat data segment, read/write, accessed: 0x00CF93000000FFFF at DPL 0.
    public static func flatData(privilegeLevel: UInt8 = 0) -> SegmentDescriptor {
        SegmentDescriptor(
            base: 0, limit: 0xF_FFFF, type: 0x3, privilegeLevel: privilegeLevel, defaultSize32: true, granularity: true)
    }
}
#endif
