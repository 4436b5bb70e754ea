import KVM

/// Why a virtqueue's configuration or a descriptor chain the guest posted was rejected.
///
/// All of these are the guest's doing (a buggy or hostile driver). None of them harms the VMM: the
/// queue reads nothing outside guest memory and the transport reacts by failing the request or by
/// marking the device as needing a reset (`DEVICE_NEEDS_RESET`), after which the guest must reset it.
public enum VirtqueueError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The queue size is 0, not a power of two, or above the device's maximum.
    case invalidQueueSize(UInt16, maximum: UInt16)
    /// A ring's address is not aligned as the spec requires (descriptor table 16, driver area 2,
    /// device area 4).
    case misalignedRing(Ring, GuestAddress)
    /// A ring does not lie entirely in guest memory.
    case ringOutsideMemory(Ring, GuestAddress, length: UInt64)
    /// The driver's available index ran more than a queue size ahead of the entries the device has
    /// taken: the ring cannot hold that many.
    case availableIndexTooFarAhead(available: UInt16, nextExpected: UInt16, queueSize: UInt16)
    /// A head or `next` index is not below the queue size (or the indirect table's entry count).
    case descriptorIndexOutOfRange(UInt16, limit: Int)
    /// The chain has more descriptors than the table it lives in can hold: it loops.
    case chainTooLong(limit: Int)
    /// A buffer does not lie entirely in guest memory.
    case bufferOutsideMemory(GuestAddress, length: UInt32)
    /// A device-readable descriptor follows a device-writable one.
    case readableAfterWritable(index: UInt16)
    /// An indirect descriptor was found inside an indirect table, or the feature was not negotiated.
    case indirectNotAllowed(index: UInt16)
    /// An indirect descriptor also has `VIRTQ_DESC_F_NEXT`.
    case indirectWithNext(index: UInt16)
    /// An indirect table's length is 0, not a multiple of 16, or holds more than 65536 entries.
    case invalidIndirectTableLength(UInt32)
    /// The chain's buffers add up to more than 4 GiB - 1 in one direction (the used ring's length is 32 bits).
    case chainLengthOverflow
    /// The queue was used before it was set up (not ready).
    case notReady
    /// A ring access failed (the ring was validated, so this means the memory layout changed).
    case memory(GuestMemoryError)

    /// The three areas of a split virtqueue.
    public enum Ring: String, Sendable, Hashable {
        case descriptorTable = "descriptor table"
        case driverArea = "driver area (available ring)"
        case deviceArea = "device area (used ring)"
    }

    public var description: String {
        switch self {
        case .invalidQueueSize(let size, let maximum):
            "queue size \(size) is not a power of two between 1 and \(maximum)"
        case .misalignedRing(let ring, let address): "\(ring.rawValue) at \(address) is misaligned"
        case .ringOutsideMemory(let ring, let address, let length):
            "\(ring.rawValue) at \(address) (\(length) bytes) is not in guest memory"
        case .availableIndexTooFarAhead(let available, let next, let size):
            "available index \(available) is more than the queue size \(size) ahead of \(next)"
        case .descriptorIndexOutOfRange(let index, let limit): "descriptor index \(index) is not below \(limit)"
        case .chainTooLong(let limit): "descriptor chain is longer than \(limit) descriptors (it loops)"
        case .bufferOutsideMemory(let address, let length): "buffer at \(address) (\(length) bytes) is not in guest memory"
        case .readableAfterWritable(let index): "device-readable descriptor \(index) follows a device-writable one"
        case .indirectNotAllowed(let index): "descriptor \(index) is indirect where that is not allowed"
        case .indirectWithNext(let index): "indirect descriptor \(index) also has the NEXT flag"
        case .invalidIndirectTableLength(let length): "indirect table length \(length) is invalid"
        case .chainLengthOverflow: "descriptor chain's buffers add up to 4 GiB or more"
        case .notReady: "queue is not ready"
        case .memory(let error): "ring access failed: \(error)"
        }
    }
}
