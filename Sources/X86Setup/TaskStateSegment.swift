#if arch(x86_64)
/// The 104-byte 64-bit task-state segment (Intel SDM vol. 3 §8.7): the stacks the CPU switches
/// to on a privilege change (RSP0-2) or through an IST slot, and the I/O permission bitmap offset.
public struct TaskStateSegment: Hashable, Sendable {
    /// The size without an I/O permission bitmap.
    public static let size = 104

    /// RSP0-RSP2: the stack for entering CPL 0-2 from a less privileged level.
    public var privilegeStacks: [UInt64] = [0, 0, 0]
    /// IST1-IST7 (index 0 is IST1).
    public var interruptStacks: [UInt64] = [0, 0, 0, 0, 0, 0, 0]
    /// Offset of the I/O permission bitmap; ``size`` (past the end) means none, so CPL3 may use no port.
    public var ioMapBase: UInt16 = UInt16(TaskStateSegment.size)

    public init(privilegeStacks: [UInt64] = [0, 0, 0], interruptStacks: [UInt64] = [0, 0, 0, 0, 0, 0, 0]) {
        precondition(privilegeStacks.count == 3 && interruptStacks.count == 7, "3 privilege stacks and 7 IST slots")
        self.privilegeStacks = privilegeStacks
        self.interruptStacks = interruptStacks
    }

    /// Decodes the 104 bytes; nil if fewer are given.
    public init?(bytes: [UInt8]) {
        guard bytes.count >= Self.size else { return nil }
        func load64(_ offset: Int) -> UInt64 { (0 ..< 8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) } }
        privilegeStacks = (0 ..< 3).map { load64(4 + $0 * 8) }
        interruptStacks = (0 ..< 7).map { load64(0x24 + $0 * 8) }
        ioMapBase = UInt16(bytes[102]) | UInt16(bytes[103]) << 8
    }

    /// The 104 bytes: RSP0-2 at 4, IST1-7 at 0x24, the I/O map base at 102.
    public var bytes: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        func store(_ value: UInt64, at offset: Int) {
            for index in 0 ..< 8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
        }
        for (index, stack) in privilegeStacks.prefix(3).enumerated() { store(stack, at: 4 + index * 8) }
        for (index, stack) in interruptStacks.prefix(7).enumerated() { store(stack, at: 0x24 + index * 8) }
        bytes[102] = UInt8(truncatingIfNeeded: ioMapBase)
        bytes[103] = UInt8(truncatingIfNeeded: ioMapBase >> 8)
        return bytes
    }
}

/// `value`'s little-endian bytes.
func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0 ..< MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
}
#endif
