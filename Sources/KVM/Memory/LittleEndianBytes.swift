// Little-endian byte arrays: how a VMM builds a guest structure (a zero page, ACPI-adjacent tables, a
// GDT, a frame on a guest stack) before copying it into guest memory in one bounds-checked
// `GuestMemory.write(bytes:at:)`, and how it reads a file header or a copy of guest memory without ever
// indexing past its end. (For typed access to guest memory itself use `GuestMemory.load`/`store`.)

/// A growable little-endian byte buffer with fixed-offset stores, for building guest structures.
///
/// ```swift
/// var zeroPage = LittleEndianBuffer(count: 4096)
/// zeroPage.put(UInt16(0x020F), at: 0x206)   // the boot protocol version
/// try memory.write(bytes: zeroPage.bytes, at: 0x7000)
/// ```
public struct LittleEndianBuffer: Hashable, Sendable {
    public var bytes: [UInt8]

    /// `count` zero bytes.
    public init(count: Int = 0) { bytes = [UInt8](repeating: 0, count: count) }
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var count: Int { bytes.count }

    /// Stores `value` little-endian at `offset`, growing the buffer with zeros if needed.
    public mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        precondition(offset >= 0, "negative offset \(offset)")
        let size = MemoryLayout<T>.size
        if offset + size > bytes.count { bytes += [UInt8](repeating: 0, count: offset + size - bytes.count) }
        for index in 0..<size { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }

    /// Stores raw bytes at `offset`, growing the buffer with zeros if needed.
    public mutating func put(_ data: [UInt8], at offset: Int) {
        precondition(offset >= 0, "negative offset \(offset)")
        if offset + data.count > bytes.count { bytes += [UInt8](repeating: 0, count: offset + data.count - bytes.count) }
        bytes.replaceSubrange(offset..<(offset + data.count), with: data)
    }

    /// Stores the ASCII (UTF-8) bytes of `text` at `offset` (no terminator).
    public mutating func put(ascii text: String, at offset: Int) { put(Array(text.utf8), at: offset) }

    /// Appends `value` little-endian.
    public mutating func append<T: FixedWidthInteger>(_ value: T) { put(value, at: bytes.count) }

    /// Appends raw bytes.
    public mutating func append(_ data: [UInt8]) { bytes += data }

    /// The little-endian bytes of `value`.
    public static func bytes<T: FixedWidthInteger>(of value: T) -> [UInt8] {
        (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}

/// Bounds-checked little-endian reads from a file image or a copy of guest memory: a value that does
/// not fit is nil, never a trap.
public struct LittleEndianReader: Sendable {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The little-endian value at `offset`, or nil if it does not fit.
    public func read<T: FixedWidthInteger>(_: T.Type = T.self, at offset: Int) -> T? {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset <= bytes.count - size else { return nil }
        var value: T = 0
        for index in 0..<size { value |= T(bytes[offset + index]) << (8 * index) }
        return value
    }

    /// `count` bytes at `offset`, or nil if they do not fit.
    public func slice(at offset: Int, count: Int) -> [UInt8]? {
        guard offset >= 0, count >= 0, offset <= bytes.count - count else { return nil }
        return Array(bytes[offset..<(offset + count)])
    }
}
