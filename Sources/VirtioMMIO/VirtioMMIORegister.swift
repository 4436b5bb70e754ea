/// The virtio-mmio version 2 register offsets (virtio 1.2 §4.2.2).
public enum VirtioMMIORegister {
    public static let magicValue: UInt64 = 0x000
    public static let version: UInt64 = 0x004
    public static let deviceID: UInt64 = 0x008
    public static let vendorID: UInt64 = 0x00C
    public static let deviceFeatures: UInt64 = 0x010
    public static let deviceFeaturesSelect: UInt64 = 0x014
    public static let driverFeatures: UInt64 = 0x020
    public static let driverFeaturesSelect: UInt64 = 0x024
    public static let queueSelect: UInt64 = 0x030
    public static let queueSizeMaximum: UInt64 = 0x034
    public static let queueSize: UInt64 = 0x038
    public static let queueReady: UInt64 = 0x044
    public static let queueNotify: UInt64 = 0x050
    public static let interruptStatus: UInt64 = 0x060
    public static let interruptAcknowledge: UInt64 = 0x064
    public static let status: UInt64 = 0x070
    public static let queueDescriptorLow: UInt64 = 0x080
    public static let queueDescriptorHigh: UInt64 = 0x084
    public static let queueDriverLow: UInt64 = 0x090
    public static let queueDriverHigh: UInt64 = 0x094
    public static let queueDeviceLow: UInt64 = 0x0A0
    public static let queueDeviceHigh: UInt64 = 0x0A4
    public static let sharedMemorySelect: UInt64 = 0x0AC
    public static let sharedMemoryLengthLow: UInt64 = 0x0B0
    public static let sharedMemoryLengthHigh: UInt64 = 0x0B4
    public static let sharedMemoryBaseLow: UInt64 = 0x0B8
    public static let sharedMemoryBaseHigh: UInt64 = 0x0BC
    public static let queueReset: UInt64 = 0x0C0
    public static let configurationGeneration: UInt64 = 0x0FC
    public static let configuration: UInt64 = 0x100

    /// "virt" in little-endian.
    public static let magic: UInt32 = 0x7472_6976
}
