/// A table an ``ACPITableSet`` can place and list in the XSDT.
public protocol ACPITable: Sendable {
    /// The 4-character signature ("APIC", "DSDT", ...).
    var signature: String { get }
    /// The whole table, header and checksum included.
    func encoded(identity: TableIdentity) throws(ACPIError) -> [UInt8]
}

/// The common layout of every system description table: the 36-byte header (signature, length,
/// revision, checksum, identity) followed by the body.
public enum SystemDescriptionTable {
    public static let headerSize = 36

    /// A complete table: header, `body`, and the checksum at offset 9 that makes every byte sum to 0.
    public static func encode(
        signature: String, revision: UInt8, identity: TableIdentity, body: [UInt8]
    ) throws(ACPIError) -> [UInt8] {
        let signatureBytes = Array(signature.utf8)
        guard signatureBytes.count == 4, signatureBytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw .invalidIdentity(field: "signature", value: signature, maximumLength: 4)
        }
        guard body.count <= Int(UInt32.max) - headerSize else { throw .tooLarge("table \(signature)") }
        var table = ByteWriter()
        table.append(signatureBytes)
        table.append(UInt32(headerSize + body.count))
        table.append(revision)
        table.append(UInt8(0))  // checksum, below
        table.append(try TableIdentity.field("OEM id", identity.oemID, length: 6))
        table.append(try TableIdentity.field("OEM table id", identity.oemTableID, length: 8))
        table.append(identity.oemRevision)
        table.append(try TableIdentity.field("creator id", identity.creatorID, length: 4))
        table.append(identity.creatorRevision)
        table.append(body)
        table.bytes[9] = checksum(table.bytes[...])
        return table.bytes
    }

    /// The byte that makes `bytes` plus itself sum to 0 modulo 256.
    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt8 {
        0 &- bytes.reduce(UInt8(0), &+)
    }
}

/// Little-endian appends.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        for index in 0..<MemoryLayout<T>.size { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }

    mutating func append(_ data: [UInt8]) { bytes += data }
}
