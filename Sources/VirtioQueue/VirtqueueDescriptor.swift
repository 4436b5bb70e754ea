/// One entry of a split virtqueue's descriptor table (`struct virtq_desc`, 16 bytes, little-endian),
/// exactly as the guest wrote it: nothing in it has been checked.
public struct VirtqueueDescriptor: Sendable, Hashable, BitwiseCopyable {
    /// The guest-physical address of the buffer.
    public var address: UInt64
    /// The buffer's length in bytes.
    public var length: UInt32
    /// `VIRTQ_DESC_F_*` bits.
    public var flags: Flags
    /// The index of the next descriptor when ``Flags/next`` is set.
    public var next: UInt16

    /// The size of a descriptor in guest memory.
    public static let size = 16

    public init(address: UInt64, length: UInt32, flags: Flags = [], next: UInt16 = 0) {
        self.address = address
        self.length = length
        self.flags = flags
        self.next = next
    }

    /// A descriptor's flags. Unknown bits are kept.
    public struct Flags: OptionSet, Sendable, Hashable, BitwiseCopyable {
        public var rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        /// `VIRTQ_DESC_F_NEXT`: the chain continues at ``VirtqueueDescriptor/next``.
        public static let next = Flags(rawValue: 1)
        /// `VIRTQ_DESC_F_WRITE`: the device writes this buffer (otherwise it reads it).
        public static let write = Flags(rawValue: 2)
        /// `VIRTQ_DESC_F_INDIRECT`: the buffer is a table of descriptors.
        public static let indirect = Flags(rawValue: 4)
    }
}
