/// A set of virtio feature bits (64 of them: the device-independent bits 24-41 and each device
/// type's own bits below 24).
///
/// Unknown bits are kept as they are: a driver's or device's set may hold bits this library has
/// no name for.
public struct VirtioFeatures: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The feature with bit number `bit` (0-63).
    public init(bit: Int) {
        precondition((0 ..< 64).contains(bit), "virtio feature bits are 0-63")
        self.rawValue = 1 << UInt64(bit)
    }

    /// `VIRTIO_F_INDIRECT_DESC` (28): descriptors may point to a table of further descriptors.
    public static let indirectDescriptors = VirtioFeatures(bit: 28)
    /// `VIRTIO_F_EVENT_IDX` (29): notifications in both directions are suppressed by ring indices
    /// (`used_event`, `avail_event`) instead of flags.
    public static let eventIndex = VirtioFeatures(bit: 29)
    /// `VIRTIO_F_VERSION_1` (32): the modern (virtio 1.x) interface. Required by this library.
    public static let version1 = VirtioFeatures(bit: 32)
    /// `VIRTIO_F_ACCESS_PLATFORM` (33): the device is behind an IOMMU (not offered by this library).
    public static let accessPlatform = VirtioFeatures(bit: 33)
    /// `VIRTIO_F_RING_PACKED` (34): packed virtqueues (not offered: this library implements split ones).
    public static let ringPacked = VirtioFeatures(bit: 34)

    /// The low (`select` 0) or high (`select` 1) 32 bits, as a transport's feature window shows them;
    /// 0 for any other window.
    public func word(_ select: UInt32) -> UInt32 {
        switch select {
        case 0: UInt32(truncatingIfNeeded: rawValue)
        case 1: UInt32(truncatingIfNeeded: rawValue >> 32)
        default: 0
        }
    }

    /// This set with the 32-bit window `select` (0 or 1) replaced by `value`; other windows are ignored.
    public func replacingWord(_ select: UInt32, with value: UInt32) -> VirtioFeatures {
        switch select {
        case 0: VirtioFeatures(rawValue: (rawValue & 0xFFFF_FFFF_0000_0000) | UInt64(value))
        case 1: VirtioFeatures(rawValue: (rawValue & 0xFFFF_FFFF) | (UInt64(value) << 32))
        default: self
        }
    }

    public var description: String { "0x" + String(rawValue, radix: 16) }
}
