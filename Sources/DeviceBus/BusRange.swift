/// A non-empty range of bus addresses: `size` addresses from `base`.
///
/// The last address is stored rather than the end, so a range may reach the top of a 64-bit address
/// space without overflowing.
public struct BusRange: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The first address.
    public let base: UInt64
    /// The last address (inclusive).
    public let last: UInt64

    /// `size` addresses from `base`.
    ///
    /// - Throws: ``BusError/emptyRange(base:)`` when `size` is 0, ``BusError/rangeOverflows(base:size:)``
    ///   when the range would pass the top of the 64-bit address space.
    public init(base: UInt64, size: UInt64) throws(BusError) {
        guard size > 0 else { throw .emptyRange(base: base) }
        let (last, overflow) = base.addingReportingOverflow(size - 1)
        guard !overflow else { throw .rangeOverflows(base: base, size: size) }
        self.base = base
        self.last = last
    }

    /// How many addresses the range holds (0 stands for 2^64, the whole space).
    public var size: UInt64 { last &- base &+ 1 }

    /// Whether `address` lies in the range.
    public func contains(_ address: UInt64) -> Bool { address >= base && address <= last }

    /// Whether the two ranges share an address.
    public func overlaps(_ other: BusRange) -> Bool { base <= other.last && other.base <= last }

    public static func < (lhs: BusRange, rhs: BusRange) -> Bool { (lhs.base, lhs.last) < (rhs.base, rhs.last) }

    public var description: String { "0x\(String(base, radix: 16))-0x\(String(last, radix: 16))" }
}
