#if arch(x86_64)
import KVMBindings

/// A GDT under construction: slot 0 is the null descriptor; code/data descriptors take one 8-byte
/// slot, long-mode TSS/LDT descriptors two.
///
/// ```swift
/// var gdt = GlobalDescriptorTable()
/// let code = gdt.append(.flatCode64())          // 0x08
/// let data = gdt.append(.flatData())            // 0x10
/// let tss = gdt.append(.taskState(base: 0x600)) // 0x18 (two slots)
/// try memory.write(bytes: gdt.bytes, at: 0x500)
/// ```
public struct GlobalDescriptorTable: Hashable, Sendable {
    /// The raw 8-byte slots, slot 0 the null descriptor.
    public private(set) var slots: [UInt64] = [0]

    public init() {}

    /// Decodes a GDT's bytes (its length rounded down to whole slots).
    public init(bytes: [UInt8]) {
        slots = stride(from: 0, to: bytes.count / 8 * 8, by: 8).map { offset in
            (0 ..< 8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
        }
        if slots.isEmpty { slots = [0] }
    }

    /// Appends a code/data descriptor; returns its selector with RPL = the descriptor's DPL.
    @discardableResult
    public mutating func append(_ descriptor: SegmentDescriptor) -> UInt16 {
        slots.append(descriptor.encoded)
        return UInt16((slots.count - 1) * 8) | UInt16(descriptor.privilegeLevel)
    }

    /// Appends a 16-byte TSS/LDT descriptor; returns its selector.
    @discardableResult
    public mutating func append(_ descriptor: SystemSegmentDescriptor) -> UInt16 {
        let (low, high) = descriptor.encoded
        slots += [low, high]
        return UInt16((slots.count - 2) * 8)
    }

    /// Pads with null slots so that the next descriptor gets selector `selector` (to match a
    /// layout a guest expects, like Linux's `__BOOT_CS` 0x10). Fails if that slot is taken.
    public mutating func skip(to selector: UInt16) -> Bool {
        let index = Int(selector >> 3)
        guard index >= slots.count else { return index == slots.count }
        slots += [UInt64](repeating: 0, count: index - slots.count)
        return true
    }

    /// The code/data descriptor `selector` names, if its slot exists and is a code/data descriptor.
    public func descriptor(for selector: UInt16) -> SegmentDescriptor? {
        let index = Int(selector >> 3)
        guard index > 0, index < slots.count else { return nil }
        let descriptor = SegmentDescriptor(encoded: slots[index])
        return descriptor.isCodeOrData ? descriptor : nil
    }

    /// The 16-byte system descriptor `selector` names, if both its slots exist.
    public func systemDescriptor(for selector: UInt16) -> SystemSegmentDescriptor? {
        let index = Int(selector >> 3)
        guard index > 0, index + 1 < slots.count, slots[index] & (1 << 44) == 0 else { return nil }
        return SystemSegmentDescriptor(low: slots[index], high: slots[index + 1])
    }

    /// The table's bytes.
    public var bytes: [UInt8] { slots.flatMap(littleEndianBytes) }

    /// GDTR's limit: size - 1.
    public var limit: UInt16 { UInt16(slots.count * 8 - 1) }

    /// GDTR for the table at `base`.
    public func register(base: UInt64) -> DescriptorTableRegister {
        DescriptorTableRegister(base: base, limit: limit)
    }
}

/// GDTR or IDTR: a table's linear base and limit (size - 1).
public struct DescriptorTableRegister: Hashable, Sendable {
    public var base: UInt64
    public var limit: UInt16

    public init(base: UInt64, limit: UInt16) {
        self.base = base
        self.limit = limit
    }

    /// As `struct kvm_dtable`.
    public var kvmDescriptorTable: KVMDtable {
        var table = KVMDtable()
        table.base = base
        table.limit = limit
        return table
    }
}
#endif
