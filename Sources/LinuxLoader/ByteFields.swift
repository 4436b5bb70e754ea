// Little-endian byte fields: how the loader builds every boot structure (zero page, start_info, multiboot
// information) before copying it into guest memory in one bounds-checked write, and how it reads image
// headers without ever indexing past their end.

/// A growable little-endian byte buffer with fixed-offset stores, for building guest structures.
struct ByteBuffer: Equatable {
    var bytes: [UInt8]

    init(count: Int = 0) { bytes = [UInt8](repeating: 0, count: count) }
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var count: Int { bytes.count }

    /// Stores `value` little-endian at `offset`, growing the buffer with zeros if needed.
    mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        let size = MemoryLayout<T>.size
        if offset + size > bytes.count { bytes += [UInt8](repeating: 0, count: offset + size - bytes.count) }
        for index in 0..<size { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }

    /// Stores raw bytes at `offset`, growing the buffer with zeros if needed.
    mutating func put(_ data: [UInt8], at offset: Int) {
        if offset + data.count > bytes.count { bytes += [UInt8](repeating: 0, count: offset + data.count - bytes.count) }
        bytes.replaceSubrange(offset..<(offset + data.count), with: data)
    }

    /// Stores the ASCII bytes of `text` at `offset` (no terminator).
    mutating func put(ascii text: String, at offset: Int) { put(Array(text.utf8), at: offset) }

    /// Appends `value` little-endian.
    mutating func append<T: FixedWidthInteger>(_ value: T) { put(value, at: bytes.count) }

    /// Appends raw bytes.
    mutating func append(_ data: [UInt8]) { bytes += data }
}

/// Bounds-checked little-endian reads from a file image or a copy of guest memory.
struct ByteReader {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The little-endian value at `offset`, or nil if it does not fit.
    func read<T: FixedWidthInteger>(_: T.Type = T.self, at offset: Int) -> T? {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset <= bytes.count - size else { return nil }
        var value: T = 0
        for index in 0..<size { value |= T(bytes[offset + index]) << (8 * index) }
        return value
    }

    /// `count` bytes at `offset`, or nil if they do not fit.
    func slice(at offset: Int, count: Int) -> [UInt8]? {
        guard offset >= 0, count >= 0, offset <= bytes.count - count else { return nil }
        return Array(bytes[offset..<(offset + count)])
    }
}

/// Rounds up to a multiple of `alignment` (a power of two).
@inline(__always) func alignUp(_ value: UInt64, _ alignment: UInt64) -> UInt64 { (value + alignment - 1) & ~(alignment - 1) }
/// Rounds down to a multiple of `alignment` (a power of two).
@inline(__always) func alignDown(_ value: UInt64, _ alignment: UInt64) -> UInt64 { value & ~(alignment - 1) }

/// `0x…` hexadecimal, zero-padded to `digits`.
func hex<T: BinaryInteger>(_ value: T, digits: Int = 0) -> String {
    let text = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, digits - text.count)) + text
}
