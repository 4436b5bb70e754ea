/// Why a device could not be registered on a ``Bus``.
public enum BusError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The range holds no address (size 0).
    case emptyRange(base: UInt64)
    /// The range passes the top of the 64-bit address space.
    case rangeOverflows(base: UInt64, size: UInt64)
    /// The range passes the top of the bus's address space (e.g. 0xFFFF for port I/O).
    case outsideAddressSpace(BusRange, limit: UInt64)
    /// The range shares addresses with a device already registered.
    case overlap(BusRange, existing: BusRange)

    public var description: String {
        switch self {
        case .emptyRange(let base):
            "a device range at 0x\(String(base, radix: 16)) is empty"
        case .rangeOverflows(let base, let size):
            "a device range of 0x\(String(size, radix: 16)) bytes at 0x\(String(base, radix: 16)) passes the top of the address space"
        case .outsideAddressSpace(let range, let limit):
            "device range \(range) passes the bus's last address 0x\(String(limit, radix: 16))"
        case .overlap(let range, let existing):
            "device range \(range) overlaps the device already at \(existing)"
        }
    }
}
