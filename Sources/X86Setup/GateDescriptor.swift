#if arch(x86_64)
/// A 16-byte long-mode IDT gate (Intel SDM vol. 3 §6.14.1).
public struct GateDescriptor: Hashable, Sendable {
    /// The handler's address.
    public var offset: UInt64
    /// The handler's code segment selector.
    public var selector: UInt16
    /// IST slot 1-7 to switch stacks to, or 0 for none.
    public var interruptStackTable: UInt8
    public var type: SystemDescriptorType
    /// The highest CPL that may reach the gate with `int n` (3 for a breakpoint or system call gate).
    public var privilegeLevel: UInt8
    public var present: Bool

    public init(
        offset: UInt64, selector: UInt16, interruptStackTable: UInt8 = 0, type: SystemDescriptorType = .interruptGate,
        privilegeLevel: UInt8 = 0, present: Bool = true
    ) {
        self.offset = offset
        self.selector = selector
        self.interruptStackTable = interruptStackTable & 7
        self.type = type
        self.privilegeLevel = privilegeLevel & 3
        self.present = present
    }

    /// An interrupt gate (IF cleared on entry) to `handler`.
    public static func interrupt(handler: UInt64, selector: UInt16, interruptStackTable: UInt8 = 0, privilegeLevel: UInt8 = 0)
        -> GateDescriptor
    {
        GateDescriptor(offset: handler, selector: selector, interruptStackTable: interruptStackTable, type: .interruptGate,
                       privilegeLevel: privilegeLevel)
    }

    /// A trap gate (IF unchanged) to `handler`.
    public static func trap(handler: UInt64, selector: UInt16, interruptStackTable: UInt8 = 0, privilegeLevel: UInt8 = 0)
        -> GateDescriptor
    {
        GateDescriptor(offset: handler, selector: selector, interruptStackTable: interruptStackTable, type: .trapGate,
                       privilegeLevel: privilegeLevel)
    }

    /// Decodes the gate's two 8-byte halves.
    public init(low: UInt64, high: UInt64) {
        offset = (low & 0xFFFF) | ((low >> 48) & 0xFFFF) << 16 | (high & 0xFFFF_FFFF) << 32
        selector = UInt16(truncatingIfNeeded: low >> 16)
        interruptStackTable = UInt8(truncatingIfNeeded: (low >> 32) & 7)
        type = SystemDescriptorType(rawValue: UInt8(truncatingIfNeeded: (low >> 40) & 0xF))
        privilegeLevel = UInt8(truncatingIfNeeded: (low >> 45) & 3)
        present = (low >> 47) & 1 == 1
    }

    /// The gate's two 8-byte halves.
    public var encoded: (low: UInt64, high: UInt64) {
        var low = offset & 0xFFFF
        low |= UInt64(selector) << 16
        low |= UInt64(interruptStackTable & 7) << 32
        low |= UInt64(type.rawValue & 0xF) << 40
        low |= UInt64(privilegeLevel & 3) << 45
        low |= (present ? 1 : 0) << 47
        low |= ((offset >> 16) & 0xFFFF) << 48
        return (low, offset >> 32)
    }
}

/// A long-mode IDT: up to 256 gates, 16 bytes each; absent vectors are zero (not present).
public struct InterruptDescriptorTable: Hashable, Sendable {
    /// The gates by vector; the table's length is the highest set vector + 1.
    public private(set) var gates: [GateDescriptor?] = []

    public init() {}

    public subscript(vector: UInt8) -> GateDescriptor? {
        get { Int(vector) < gates.count ? gates[Int(vector)] : nil }
        set {
            if Int(vector) >= gates.count { gates += [GateDescriptor?](repeating: nil, count: Int(vector) + 1 - gates.count) }
            gates[Int(vector)] = newValue
        }
    }

    /// The table's bytes (16 per vector, up to the highest set one).
    public var bytes: [UInt8] {
        gates.flatMap { gate -> [UInt8] in
            guard let gate else { return [UInt8](repeating: 0, count: 16) }
            let (low, high) = gate.encoded
            return littleEndianBytes(low) + littleEndianBytes(high)
        }
    }

    /// IDTR's limit: the table's size - 1 (0 for an empty table: every interrupt then faults to a
    /// triple fault, which is what a VMM wants before the guest installs its own IDT).
    public var limit: UInt16 { gates.isEmpty ? 0 : UInt16(gates.count * 16 - 1) }
}
#endif
