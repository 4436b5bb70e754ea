/// A machine's ACPI tables laid out in one blob for one place in guest memory: the RSDP first (on a
/// 16-byte boundary, where Linux's scan of 0xE0000-0xFFFFF would also find it), then the DSDT, the
/// ``FACS`` when the FADT is not hardware-reduced (on a 64-byte boundary), the FADT (pointing at the
/// DSDT and the FACS), the other tables, and the XSDT listing the FADT and the others. Each table
/// starts on a 16-byte boundary; every pointer is the guest-physical address it will have once
/// ``blob`` is copied to ``base`` (which must be 64-byte aligned when there is a FACS).
public struct ACPITableSet: Sendable {
    /// Where the blob goes (guest-physical).
    public let base: UInt64
    /// The tables, ready to copy to ``base``.
    public let blob: [UInt8]
    /// Where the RSDP is: ``base``. Give it to the guest (the zero page's `acpi_rsdp_addr`, PVH's `rsdp_paddr`).
    public var rsdpAddress: UInt64 { base }
    /// Each table's signature and address, the RSDP first.
    public let tables: [(signature: String, address: UInt64)]

    public init(
        base: UInt64, fadt: FADT, dsdt: DefinitionBlock, tables others: [any ACPITable] = [],
        facs: FACS = FACS(), identity: TableIdentity = TableIdentity()
    ) throws(ACPIError) {
        var blob = [UInt8](repeating: 0, count: RSDP.size)
        var placed: [(String, UInt64)] = []
        func place(_ table: [UInt8], _ signature: String, alignment: Int = 16) -> UInt64 {
            let offset = (blob.count + alignment - 1) & ~(alignment - 1)
            blob += [UInt8](repeating: 0, count: offset - blob.count)
            blob += table
            placed.append((signature, base &+ UInt64(offset)))
            return base &+ UInt64(offset)
        }
        let dsdtAddress = place(try dsdt.encoded(identity: identity), dsdt.signature)
        var fadt = fadt
        fadt.dsdtAddress = dsdtAddress
        if !fadt.flags.contains(.hardwareReduced) {
            guard base % UInt64(FACS.alignment) == 0 else { throw .invalidValue("the FACS needs a 64-byte aligned base for the tables, not 0x\(String(base, radix: 16))") }
            fadt.firmwareControlAddress = place(facs.encoded, "FACS", alignment: FACS.alignment)
        }
        var entries = [place(try fadt.encoded(identity: identity), fadt.signature)]
        for table in others { entries.append(place(try table.encoded(identity: identity), table.signature)) }
        let xsdt = XSDT(entries: entries)
        let xsdtAddress = place(try xsdt.encoded(identity: identity), xsdt.signature)
        blob.replaceSubrange(0..<RSDP.size, with: try RSDP(xsdtAddress: xsdtAddress, oemID: identity.oemID).encoded())
        self.base = base
        self.blob = blob
        self.tables = [("RSDP", base)] + placed
    }
}
