/// An 8-byte x86 code/data (or low half of a system) segment descriptor, field by field.
///
/// The fields are exactly those of `struct kvm_segment`, so the vCPU setup can copy them into
/// `kvm_sregs` for the segment registers without re-deriving them.
struct SegmentDescriptor: Equatable {
    var base: UInt32
    /// The raw 20-bit limit (in 4 KiB units when `granularity` is set).
    var limit: UInt32
    /// The 4-bit type (bit 0: accessed; for code, bit 1: readable, bit 3: code).
    var type: UInt8
    /// S: 1 for code/data, 0 for system descriptors (TSS, LDT, gates).
    var isCodeOrData: Bool
    var dpl: UInt8
    var present: Bool
    var available: Bool
    /// L: 64-bit code segment.
    var long: Bool
    /// D/B: default operand size 32 bits (must be 0 when `long` is set).
    var defaultSize32: Bool
    var granularity: Bool

    /// The limit in bytes, as `kvm_segment.limit` wants it.
    var byteLimit: UInt32 {
        granularity ? (limit << 12) | 0xFFF : limit
    }

    init(
        base: UInt32, limit: UInt32, type: UInt8, isCodeOrData: Bool, dpl: UInt8, present: Bool = true,
        available: Bool = false, long: Bool, defaultSize32: Bool, granularity: Bool
    ) {
        self.base = base
        self.limit = limit & 0xF_FFFF
        self.type = type & 0xF
        self.isCodeOrData = isCodeOrData
        self.dpl = dpl & 3
        self.present = present
        self.available = available
        self.long = long
        self.defaultSize32 = defaultSize32
        self.granularity = granularity
    }

    init(encoded value: UInt64) {
        base = UInt32(truncatingIfNeeded: (value >> 16) & 0xFF_FFFF) | UInt32(truncatingIfNeeded: (value >> 56) & 0xFF) << 24
        limit = UInt32(truncatingIfNeeded: value & 0xFFFF) | UInt32(truncatingIfNeeded: (value >> 48) & 0xF) << 16
        type = UInt8(truncatingIfNeeded: (value >> 40) & 0xF)
        isCodeOrData = (value >> 44) & 1 == 1
        dpl = UInt8(truncatingIfNeeded: (value >> 45) & 3)
        present = (value >> 47) & 1 == 1
        available = (value >> 52) & 1 == 1
        long = (value >> 53) & 1 == 1
        defaultSize32 = (value >> 54) & 1 == 1
        granularity = (value >> 55) & 1 == 1
    }

    var encoded: UInt64 {
        var value = UInt64(limit & 0xFFFF)
        value |= UInt64(base & 0xFF_FFFF) << 16
        value |= UInt64(type & 0xF) << 40
        value |= (isCodeOrData ? 1 : 0) << 44
        value |= UInt64(dpl & 3) << 45
        value |= (present ? 1 : 0) << 47
        value |= UInt64((limit >> 16) & 0xF) << 48
        value |= (available ? 1 : 0) << 52
        value |= (long ? 1 : 0) << 53
        value |= (defaultSize32 ? 1 : 0) << 54
        value |= (granularity ? 1 : 0) << 55
        value |= UInt64(base >> 24) << 56
        return value
    }
}
