#if arch(x86_64)
import KVMBindings

/// The type field of a system descriptor (S = 0) in long mode (Intel SDM vol. 3 table 3-2). An
/// open set: unknown values are kept.
public struct SystemDescriptorType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue & 0xF }

    public static let localDescriptorTable = SystemDescriptorType(rawValue: 0x2)
    /// A 64-bit TSS not currently loaded in TR.
    public static let availableTaskState = SystemDescriptorType(rawValue: 0x9)
    /// A 64-bit TSS loaded in TR (`ltr` sets the busy bit; VMX requires it in a loaded TR).
    public static let busyTaskState = SystemDescriptorType(rawValue: 0xB)
    public static let callGate = SystemDescriptorType(rawValue: 0xC)
    /// Clears IF on entry.
    public static let interruptGate = SystemDescriptorType(rawValue: 0xE)
    /// Leaves IF alone.
    public static let trapGate = SystemDescriptorType(rawValue: 0xF)

    public var description: String {
        switch self {
        case .localDescriptorTable: "LDT"
        case .availableTaskState: "available TSS"
        case .busyTaskState: "busy TSS"
        case .callGate: "call gate"
        case .interruptGate: "interrupt gate"
        case .trapGate: "trap gate"
        default: "system type \(rawValue)"
        }
    }
}

/// A 16-byte long-mode TSS or LDT descriptor: two GDT slots, the second holding base bits 63:32.
public struct SystemSegmentDescriptor: Hashable, Sendable {
    public var base: UInt64
    /// The raw 20-bit limit (in 4 KiB units when ``granularity`` is set).
    public var limit: UInt32
    public var type: SystemDescriptorType
    public var privilegeLevel: UInt8
    public var present: Bool
    public var granularity: Bool

    public init(
        base: UInt64, limit: UInt32, type: SystemDescriptorType, privilegeLevel: UInt8 = 0, present: Bool = true,
        granularity: Bool = false
    ) {
        self.base = base
        self.limit = limit & 0xF_FFFF
        self.type = type
        self.privilegeLevel = privilegeLevel & 3
        self.present = present
        self.granularity = granularity
    }

    /// An available 64-bit TSS at `base` of ``TaskStateSegment/size`` bytes (limit 103).
    public static func taskState(base: UInt64, limit: UInt32 = UInt32(TaskStateSegment.size - 1)) -> SystemSegmentDescriptor {
        SystemSegmentDescriptor(base: base, limit: limit, type: .availableTaskState)
    }

    /// Decodes the two GDT slots.
    public init(low: UInt64, high: UInt64) {
        let legacy = SegmentDescriptor(encoded: low)
        self.init(
            base: UInt64(legacy.base) | (high & 0xFFFF_FFFF) << 32, limit: legacy.limit,
            type: SystemDescriptorType(rawValue: legacy.type), privilegeLevel: legacy.privilegeLevel,
            present: legacy.present, granularity: legacy.granularity)
    }

    /// The two GDT slots.
    public var encoded: (low: UInt64, high: UInt64) {
        let legacy = SegmentDescriptor(
            base: UInt32(truncatingIfNeeded: base), limit: limit, type: type.rawValue, isCodeOrData: false,
            privilegeLevel: privilegeLevel, present: present, granularity: granularity)
        return (legacy.encoded, base >> 32)
    }

    /// The limit in bytes.
    public var byteLimit: UInt32 { granularity ? (limit << 12) | 0xFFF : limit }

    /// TR (or LDTR) as KVM_SET_SREGS takes it. For TR, use the busy type (``busy``), as `ltr` leaves it.
    public func segment(selector: UInt16) -> KVMSegment {
        var segment = KVMSegment()
        segment.base = base
        segment.limit = byteLimit
        segment.selector = selector
        segment.type = type.rawValue
        segment.s = 0
        segment.dpl = privilegeLevel
        segment.present = present ? 1 : 0
        segment.g = granularity ? 1 : 0
        return segment
    }

    /// The same TSS marked busy, as a loaded TR holds it.
    public var busy: SystemSegmentDescriptor {
        var copy = self
        if copy.type == .availableTaskState { copy.type = .busyTaskState }
        return copy
    }
}
#endif
