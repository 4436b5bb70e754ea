/// The identity fields every system description table header carries (and the RSDP's OEM id).
public struct TableIdentity: Sendable, Hashable {
    /// Up to 6 ASCII characters (padded with spaces).
    public var oemID: String
    /// Up to 8 ASCII characters (padded with spaces).
    public var oemTableID: String
    public var oemRevision: UInt32
    /// Up to 4 ASCII characters: who built the table.
    public var creatorID: String
    public var creatorRevision: UInt32

    public init(oemID: String = "SWKVM", oemTableID: String = "SWIFTKVM", oemRevision: UInt32 = 1,
                creatorID: String = "SWFT", creatorRevision: UInt32 = 1) {
        self.oemID = oemID
        self.oemTableID = oemTableID
        self.oemRevision = oemRevision
        self.creatorID = creatorID
        self.creatorRevision = creatorRevision
    }

    static func field(_ name: String, _ value: String, length: Int) throws(ACPIError) -> [UInt8] {
        let bytes = Array(value.utf8)
        guard bytes.count <= length, bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw .invalidIdentity(field: name, value: value, maximumLength: length)
        }
        return bytes + [UInt8](repeating: 0x20, count: length - bytes.count)
    }
}
