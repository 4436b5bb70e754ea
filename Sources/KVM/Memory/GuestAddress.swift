/// A guest-physical address.
///
/// A distinct type rather than a bare `UInt64`, so that guest-physical and host-virtual
/// addresses cannot be mixed up. Arithmetic is checked: ``adding(_:)`` returns `nil` instead of
/// wrapping past the top of the 64-bit address space.
@frozen
public struct GuestAddress: RawRepresentable, Hashable, Comparable, Sendable, BitwiseCopyable,
    ExpressibleByIntegerLiteral, CustomStringConvertible
{
    /// The address as a 64-bit number.
    public var rawValue: UInt64

    /// Creates an address from its 64-bit value.
    ///
    /// - Parameter rawValue: The guest-physical address.
    @inlinable
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Creates an address from its 64-bit value.
    ///
    /// - Parameter rawValue: The guest-physical address.
    @inlinable
    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Creates an address from an integer literal, as in `let entry: GuestAddress = 0x10_0000`.
    ///
    /// - Parameter value: The guest-physical address.
    @inlinable
    public init(integerLiteral value: UInt64) {
        self.rawValue = value
    }

    /// The address `offset` bytes above this one, or `nil` if that is beyond `UInt64.max`.
    ///
    /// - Parameter offset: The number of bytes to add.
    /// - Returns: The sum, or `nil` on overflow.
    @inlinable
    public func adding(_ offset: UInt64) -> GuestAddress? {
        let (sum, overflow) = rawValue.addingReportingOverflow(offset)
        return overflow ? nil : GuestAddress(sum)
    }

    /// The number of bytes from `base` up to this address, or `nil` if `base` is above it.
    ///
    /// - Parameter base: The lower address.
    /// - Returns: `self - base`, or `nil` if that would be negative.
    @inlinable
    public func offset(from base: GuestAddress) -> UInt64? {
        rawValue >= base.rawValue ? rawValue - base.rawValue : nil
    }

    /// Whether the address is a multiple of `alignment`.
    ///
    /// - Parameter alignment: A power of two, such as 4096. Other values return `false`.
    /// - Returns: `true` if the address is aligned.
    @inlinable
    public func isAligned(to alignment: UInt64) -> Bool {
        guard alignment != 0, alignment & (alignment - 1) == 0 else { return false }
        return rawValue & (alignment - 1) == 0
    }

    /// Orders addresses numerically.
    @inlinable
    public static func < (lhs: GuestAddress, rhs: GuestAddress) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// The address in hexadecimal, such as `0x100000`.
    public var description: String {
        "0x" + String(rawValue, radix: 16)
    }
}
