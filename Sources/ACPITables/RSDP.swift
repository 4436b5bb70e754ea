/// The Root System Description Pointer, ACPI 2.0+ form (36 bytes): where the guest's OS starts,
/// pointing at the XSDT. Linux finds it through the boot protocol (`acpi_rsdp_addr`, PVH's
/// `rsdp_paddr`) or by scanning 0xE0000-0xFFFFF on a 16-byte boundary.
public struct RSDP: Sendable, Hashable {
    public static let size = 36
    public var xsdtAddress: UInt64
    public var oemID: String

    public init(xsdtAddress: UInt64, oemID: String = TableIdentity().oemID) {
        self.xsdtAddress = xsdtAddress
        self.oemID = oemID
    }

    /// The 36 bytes: checksum over the first 20, extended checksum over all 36.
    public func encoded() throws(ACPIError) -> [UInt8] {
        var writer = ByteWriter()
        writer.append(Array("RSD PTR ".utf8))
        writer.append(UInt8(0))  // checksum
        writer.append(try TableIdentity.field("OEM id", oemID, length: 6))
        writer.append(UInt8(2))  // revision: ACPI 2.0+
        writer.append(UInt32(0))  // RSDT address: none, the XSDT is used
        writer.append(UInt32(Self.size))
        writer.append(xsdtAddress)
        writer.append(UInt8(0))  // extended checksum
        writer.append([0, 0, 0])
        var bytes = writer.bytes
        bytes[8] = SystemDescriptionTable.checksum(bytes[0..<20])
        bytes[32] = SystemDescriptionTable.checksum(bytes[0..<36])
        return bytes
    }
}

/// The Extended System Description Table: the 64-bit addresses of every table but the DSDT (which
/// the FADT points to) and the FACS.
public struct XSDT: ACPITable {
    public var signature: String { "XSDT" }
    public var entries: [UInt64]

    public init(entries: [UInt64]) { self.entries = entries }

    public func encoded(identity: TableIdentity) throws(ACPIError) -> [UInt8] {
        var body = ByteWriter()
        for entry in entries { body.append(entry) }
        return try SystemDescriptionTable.encode(signature: signature, revision: 1, identity: identity, body: body.bytes)
    }
}
