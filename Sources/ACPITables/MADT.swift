/// The Multiple APIC Description Table ("APIC"): the local APICs (one per vCPU), the I/O APICs, how
/// ISA IRQs map to GSIs, and the NMI wiring.
public struct MADT: ACPITable {
    public var signature: String { "APIC" }

    /// MPS INTI flags: polarity (bits 0-1) and trigger mode (bits 2-3).
    public struct InterruptFlags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        /// Bus default polarity and trigger mode.
        public static let conforming: InterruptFlags = []
        public static let activeHigh = InterruptFlags(rawValue: 0b01)
        public static let activeLow = InterruptFlags(rawValue: 0b11)
        public static let edgeTriggered = InterruptFlags(rawValue: 0b01 << 2)
        public static let levelTriggered = InterruptFlags(rawValue: 0b11 << 2)
    }

    public enum Entry: Sendable, Hashable {
        /// Type 0: a processor's local APIC.
        case localAPIC(processorUID: UInt8, apicID: UInt8, enabled: Bool = true)
        /// Type 1: an I/O APIC and the first GSI it serves.
        case ioAPIC(id: UInt8, address: UInt32, gsiBase: UInt32)
        /// Type 2: ISA IRQ `source` arrives at `gsi` with `flags`.
        case interruptSourceOverride(source: UInt8, gsi: UInt32, flags: InterruptFlags)
        /// Type 4: which LINT pin of which processor (0xFF: all) is the NMI.
        case localAPICNMI(processorUID: UInt8, flags: InterruptFlags, lint: UInt8)
        /// Type 9: a processor's local x2APIC (APIC ids above 254).
        case localX2APIC(x2apicID: UInt32, processorUID: UInt32, enabled: Bool = true)

        var encoded: [UInt8] {
            var writer = ByteWriter()
            switch self {
            case .localAPIC(let uid, let id, let enabled):
                writer.append([0, 8, uid, id])
                writer.append(UInt32(enabled ? 1 : 0))
            case .ioAPIC(let id, let address, let gsiBase):
                writer.append([1, 12, id, 0])
                writer.append(address)
                writer.append(gsiBase)
            case .interruptSourceOverride(let source, let gsi, let flags):
                writer.append([2, 10, 0, source])  // bus 0: ISA
                writer.append(gsi)
                writer.append(flags.rawValue)
            case .localAPICNMI(let uid, let flags, let lint):
                writer.append([4, 6, uid])
                writer.append(flags.rawValue)
                writer.append(lint)
            case .localX2APIC(let id, let uid, let enabled):
                writer.append([9, 16, 0, 0])
                writer.append(id)
                writer.append(UInt32(enabled ? 1 : 0))
                writer.append(uid)
            }
            return writer.bytes
        }
    }

    public static let defaultLocalAPICAddress: UInt32 = 0xFEE0_0000
    public static let defaultIOAPICAddress: UInt32 = 0xFEC0_0000

    public var localAPICAddress: UInt32
    /// PCAT_COMPAT: the machine also has 8259 PICs (KVM's in-kernel irqchip does).
    public var pcatCompatible: Bool
    public var entries: [Entry]

    public init(localAPICAddress: UInt32 = MADT.defaultLocalAPICAddress, pcatCompatible: Bool = true, entries: [Entry]) {
        self.localAPICAddress = localAPICAddress
        self.pcatCompatible = pcatCompatible
        self.entries = entries
    }

    /// What a KVM machine with the in-kernel irqchip has: one enabled local APIC per vCPU (APIC id
    /// = processor UID = index; x2APIC entries for ids above 254), one I/O APIC (id = `cpuCount`,
    /// GSIs from 0), the given interrupt source overrides, and LINT1 as the NMI on every processor.
    public static func kvm(
        cpuCount: Int, ioAPICAddress: UInt32 = MADT.defaultIOAPICAddress,
        overrides: [(source: UInt8, gsi: UInt32, flags: InterruptFlags)] = []
    ) -> MADT {
        var entries: [Entry] = (0..<max(cpuCount, 0)).map { cpu in
            cpu < 255 ? .localAPIC(processorUID: UInt8(cpu), apicID: UInt8(cpu), enabled: true)
                : .localX2APIC(x2apicID: UInt32(cpu), processorUID: UInt32(cpu), enabled: true)
        }
        entries.append(.ioAPIC(id: UInt8(truncatingIfNeeded: cpuCount), address: ioAPICAddress, gsiBase: 0))
        entries += overrides.map { .interruptSourceOverride(source: $0.source, gsi: $0.gsi, flags: $0.flags) }
        entries.append(.localAPICNMI(processorUID: 0xFF, flags: .conforming, lint: 1))
        return MADT(entries: entries)
    }

    public func encoded(identity: TableIdentity) throws(ACPIError) -> [UInt8] {
        var body = ByteWriter()
        body.append(localAPICAddress)
        body.append(UInt32(pcatCompatible ? 1 : 0))
        for entry in entries { body.append(entry.encoded) }
        return try SystemDescriptionTable.encode(signature: signature, revision: 4, identity: identity, body: body.bytes)
    }
}
