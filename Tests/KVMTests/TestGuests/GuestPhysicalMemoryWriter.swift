import KVM

/// Somewhere test-guest setup code can put bytes at guest-physical addresses: a real
/// ``GuestMemory`` or a ``FlatGuestMemory`` byte array.
protocol GuestPhysicalMemoryWriter {
    mutating func write(bytes: [UInt8], at address: GuestAddress) throws
}

extension GuestMemory: GuestPhysicalMemoryWriter {}

/// A plain byte array standing in for guest memory `[0, bytes.count)`, for tests that need
/// no mappings.
struct FlatGuestMemory: GuestPhysicalMemoryWriter {
    var bytes: [UInt8]

    init(size: Int) {
        bytes = [UInt8](repeating: 0, count: size)
    }

    mutating func write(bytes newBytes: [UInt8], at address: GuestAddress) throws {
        guard address.rawValue <= UInt64(bytes.count),
              UInt64(newBytes.count) <= UInt64(bytes.count) - address.rawValue
        else { throw GuestMemoryError.addressNotMapped(address) }
        let start = Int(address.rawValue)
        bytes.replaceSubrange(start ..< start + newBytes.count, with: newBytes)
    }

    /// The little-endian UInt64 at `address`, or nil if out of range.
    func load64(at address: UInt64) -> UInt64? {
        guard address <= UInt64(bytes.count), UInt64(bytes.count) - address >= 8 else { return nil }
        return (0 ..< 8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[Int(address) + $1]) }
    }
}

extension Array where Element == UInt8 {
    /// The little-endian bytes of `value`.
    init<T: FixedWidthInteger>(littleEndian value: T) {
        self = (0 ..< MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }
}
