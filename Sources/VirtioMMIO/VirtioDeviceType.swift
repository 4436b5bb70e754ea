/// A virtio device ID (virtio 1.2 §5): what kind of device the transport presents. The set is open:
/// any value can be presented, named or not.
public struct VirtioDeviceType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let network = VirtioDeviceType(rawValue: 1)
    public static let block = VirtioDeviceType(rawValue: 2)
    public static let console = VirtioDeviceType(rawValue: 3)
    public static let entropy = VirtioDeviceType(rawValue: 4)
    public static let vsock = VirtioDeviceType(rawValue: 19)

    public var description: String {
        switch self {
        case .network: "network"
        case .block: "block"
        case .console: "console"
        case .entropy: "entropy"
        case .vsock: "vsock"
        default: "device type \(rawValue)"
        }
    }
}

/// The device status field (virtio 1.2 §2.1). Unknown bits are kept.
public struct VirtioDeviceStatus: OptionSet, Sendable, Hashable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let acknowledge = VirtioDeviceStatus(rawValue: 1)
    public static let driver = VirtioDeviceStatus(rawValue: 2)
    public static let driverOK = VirtioDeviceStatus(rawValue: 4)
    public static let featuresOK = VirtioDeviceStatus(rawValue: 8)
    public static let deviceNeedsReset = VirtioDeviceStatus(rawValue: 64)
    public static let failed = VirtioDeviceStatus(rawValue: 128)
}
