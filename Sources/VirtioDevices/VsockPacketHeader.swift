/// `struct virtio_vsock_hdr` (44 bytes, little-endian): the header of every vsock packet.
public struct VsockPacketHeader: Sendable, Hashable {
    public var sourceCID: UInt64
    public var destinationCID: UInt64
    public var sourcePort: UInt32
    public var destinationPort: UInt32
    /// The payload's length.
    public var length: UInt32
    /// `VIRTIO_VSOCK_TYPE_*` (1: stream).
    public var type: UInt16
    public var operation: Operation
    /// Shutdown flags (`VIRTIO_VSOCK_SHUTDOWN_RCV` 1, `_SEND` 2) for ``Operation/shutdown``.
    public var flags: UInt32
    /// The sender's receive buffer size (credit-based flow control).
    public var bufferAllocation: UInt32
    /// The bytes the sender has consumed from its receive buffer so far (wrapping).
    public var forwardCount: UInt32

    public static let size = 44
    public static let streamType: UInt16 = 1

    /// `VIRTIO_VSOCK_OP_*`; unknown values are kept.
    public struct Operation: RawRepresentable, Sendable, Hashable {
        public var rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        public static let request = Operation(rawValue: 1)
        public static let response = Operation(rawValue: 2)
        public static let reset = Operation(rawValue: 3)
        public static let shutdown = Operation(rawValue: 4)
        public static let readWrite = Operation(rawValue: 5)
        public static let creditUpdate = Operation(rawValue: 6)
        public static let creditRequest = Operation(rawValue: 7)
    }

    public init(
        sourceCID: UInt64, destinationCID: UInt64, sourcePort: UInt32, destinationPort: UInt32, length: UInt32 = 0,
        type: UInt16 = Self.streamType, operation: Operation, flags: UInt32 = 0, bufferAllocation: UInt32 = 0,
        forwardCount: UInt32 = 0
    ) {
        self.sourceCID = sourceCID
        self.destinationCID = destinationCID
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.length = length
        self.type = type
        self.operation = operation
        self.flags = flags
        self.bufferAllocation = bufferAllocation
        self.forwardCount = forwardCount
    }

    /// Decodes the first 44 bytes of `bytes` (nil if there are fewer).
    public init?(bytes: [UInt8]) {
        guard bytes.count >= Self.size else { return nil }
        self.init(
            sourceCID: bytes.littleEndianValue(UInt64.self, at: 0), destinationCID: bytes.littleEndianValue(UInt64.self, at: 8),
            sourcePort: bytes.littleEndianValue(UInt32.self, at: 16), destinationPort: bytes.littleEndianValue(UInt32.self, at: 20),
            length: bytes.littleEndianValue(UInt32.self, at: 24), type: bytes.littleEndianValue(UInt16.self, at: 28),
            operation: Operation(rawValue: bytes.littleEndianValue(UInt16.self, at: 30)),
            flags: bytes.littleEndianValue(UInt32.self, at: 32), bufferAllocation: bytes.littleEndianValue(UInt32.self, at: 36),
            forwardCount: bytes.littleEndianValue(UInt32.self, at: 40))
    }

    /// The 44 little-endian bytes.
    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.size)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        append(sourceCID)
        append(destinationCID)
        append(sourcePort)
        append(destinationPort)
        append(length)
        append(type)
        append(operation.rawValue)
        append(flags)
        append(bufferAllocation)
        append(forwardCount)
        return bytes
    }
}
