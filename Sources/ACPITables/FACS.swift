/// The Firmware ACPI Control Structure ("FACS", 64 bytes, version 2): the memory the OS and firmware
/// share for the global lock and the waking vector. A FADT that is not hardware-reduced must point at
/// one; ``ACPITableSet`` places it (on the 64-byte boundary the specification requires) and fills in
/// the FADT's FIRMWARE_CTRL and X_FIRMWARE_CTRL. It has no checksum and is not listed in the XSDT.
///
/// A VMM without firmware never takes the global lock and never resumes from a sleep state, so every
/// field but the hardware signature starts at zero and belongs to the guest from then on.
public struct FACS: Sendable, Hashable {
    public static let size = 64
    public static let alignment = 64

    /// Changes when the machine's hardware configuration does, so that an OS resuming from S4 can
    /// tell it woke on different hardware.
    public var hardwareSignature: UInt32

    public init(hardwareSignature: UInt32 = 0) {
        self.hardwareSignature = hardwareSignature
    }

    public var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.append(Array("FACS".utf8))
        writer.append(UInt32(Self.size))
        writer.append(hardwareSignature)
        writer.append(UInt32(0))  // firmware waking vector
        writer.append(UInt32(0))  // global lock
        writer.append(UInt32(0))  // flags: no S4BIOS, no 64-bit wake
        writer.append(UInt64(0))  // X firmware waking vector
        writer.append(UInt8(2))  // version
        writer.append([0, 0, 0])
        writer.append(UInt32(0))  // OSPM flags
        writer.append([UInt8](repeating: 0, count: 24))
        return writer.bytes
    }
}
