/// A Generic Address Structure (GAS, 12 bytes): where a register lives, as the FADT names its
/// reset and sleep registers.
public struct GenericAddress: Sendable, Hashable {
    /// The address space (an open set: values this type does not name are kept).
    public struct Space: RawRepresentable, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let systemMemory = Space(rawValue: 0)
        public static let systemIO = Space(rawValue: 1)
        public static let pciConfiguration = Space(rawValue: 2)
    }

    /// The access size field.
    public struct AccessSize: RawRepresentable, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let undefined = AccessSize(rawValue: 0)
        public static let byte = AccessSize(rawValue: 1)
        public static let word = AccessSize(rawValue: 2)
        public static let doubleWord = AccessSize(rawValue: 3)
        public static let quadWord = AccessSize(rawValue: 4)
    }

    public var space: Space
    public var bitWidth: UInt8
    public var bitOffset: UInt8
    public var accessSize: AccessSize
    public var address: UInt64

    public init(space: Space, bitWidth: UInt8, bitOffset: UInt8 = 0, accessSize: AccessSize, address: UInt64) {
        self.space = space
        self.bitWidth = bitWidth
        self.bitOffset = bitOffset
        self.accessSize = accessSize
        self.address = address
    }

    /// A byte-wide register at I/O port `port`.
    public static func ioPort(_ port: UInt16) -> GenericAddress {
        GenericAddress(space: .systemIO, bitWidth: 8, accessSize: .byte, address: UInt64(port))
    }

    /// A register of `bits` bits in memory at `address`.
    public static func memory(_ address: UInt64, bits: UInt8) -> GenericAddress {
        let size: AccessSize = switch bits { case 8: .byte; case 16: .word; case 32: .doubleWord; default: .quadWord }
        return GenericAddress(space: .systemMemory, bitWidth: bits, accessSize: size, address: address)
    }

    /// All zeros: "not present".
    public static let none = GenericAddress(space: .systemMemory, bitWidth: 0, accessSize: .undefined, address: 0)

    var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.append(space.rawValue)
        writer.append(bitWidth)
        writer.append(bitOffset)
        writer.append(accessSize.rawValue)
        writer.append(address)
        return writer.bytes
    }
}
