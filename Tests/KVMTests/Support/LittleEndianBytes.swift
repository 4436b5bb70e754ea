extension Array where Element == UInt8 {
    /// The little-endian bytes of `value`.
    init<T: FixedWidthInteger>(littleEndian value: T) {
        self = (0 ..< MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }
}
