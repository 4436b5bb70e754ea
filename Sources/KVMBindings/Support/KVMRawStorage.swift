/// Reads and writes members that Swift cannot store in place: union members, members of records whose
/// C alignment stored properties would not reproduce, packed members, and bitfields. The generated
/// accessors call these with offsets clang computed; each access is bounds-checked by the buffer
/// pointer in debug builds and never exceeds the storage by construction.
public enum KVMRawStorage {
    /// The `Value` stored at `offset` bytes into `storage`.
    @inlinable
    public static func load<Storage: BitwiseCopyable, Value: BitwiseCopyable>(
        _: Value.Type, from storage: Storage, at offset: Int
    ) -> Value {
        precondition(offset >= 0 && offset + MemoryLayout<Value>.size <= MemoryLayout<Storage>.size)
        // SAFETY: the range [offset, offset + size) lies inside `storage` (checked above); the read is
        // unaligned-safe and Value is BitwiseCopyable, so any bit pattern of the right size is a value.
        return withUnsafeBytes(of: storage) { $0.loadUnaligned(fromByteOffset: offset, as: Value.self) }
    }

    /// Stores `value` at `offset` bytes into `storage`.
    @inlinable
    public static func store<Storage: BitwiseCopyable, Value: BitwiseCopyable>(
        _ value: Value, into storage: inout Storage, at offset: Int
    ) {
        precondition(offset >= 0 && offset + MemoryLayout<Value>.size <= MemoryLayout<Storage>.size)
        // SAFETY: the range lies inside `storage` (checked above); storeBytes copies the value's bytes,
        // which is all a BitwiseCopyable value is.
        withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: value, toByteOffset: offset, as: Value.self) }
    }

    /// The `width` bits (at most 64) starting at bit `bitOffset` of `storage`, as C lays out bitfields on
    /// little-endian targets: bit i of byte k is bit 8k + i.
    @inlinable
    public static func bits<Storage: BitwiseCopyable>(of storage: Storage, at bitOffset: Int, width: Int) -> UInt64 {
        precondition(width > 0 && width <= 64 && bitOffset >= 0 && bitOffset + width <= MemoryLayout<Storage>.size * 8)
        return withUnsafeBytes(of: storage) { bytes in
            var result: UInt64 = 0
            for bit in 0..<width {
                let position = bitOffset + bit
                if bytes[position / 8] & (1 << UInt8(position % 8)) != 0 { result |= 1 << UInt64(bit) }
            }
            return result
        }
    }

    /// Like `bits(of:at:width:)`, sign-extended from the field's top bit (for signed bitfields).
    @inlinable
    public static func signedBits<Storage: BitwiseCopyable>(of storage: Storage, at bitOffset: Int, width: Int) -> Int64 {
        let raw = bits(of: storage, at: bitOffset, width: width)
        let shift = UInt64(64 - width)
        return Int64(bitPattern: raw << shift) >> shift
    }

    /// Replaces the `width` bits at `bitOffset` with the low bits of `value`; other bits are kept.
    @inlinable
    public static func setBits<Storage: BitwiseCopyable>(
        of storage: inout Storage, at bitOffset: Int, width: Int, to value: UInt64
    ) {
        precondition(width > 0 && width <= 64 && bitOffset >= 0 && bitOffset + width <= MemoryLayout<Storage>.size * 8)
        withUnsafeMutableBytes(of: &storage) { bytes in
            for bit in 0..<width {
                let position = bitOffset + bit
                let mask: UInt8 = 1 << UInt8(position % 8)
                if value & (1 << UInt64(bit)) != 0 {
                    bytes[position / 8] |= mask
                } else {
                    bytes[position / 8] &= ~mask
                }
            }
        }
    }
}
