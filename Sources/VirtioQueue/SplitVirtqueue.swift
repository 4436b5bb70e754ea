import KVM

/// A split virtqueue (virtio 1.2 §2.7) as the device sees it: it takes the chains the driver makes
/// available, and returns them through the used ring.
///
/// A queue is created from the addresses and size the driver programmed through the transport, and
/// creation checks them: the size is a power of two no larger than the device's maximum, the three
/// areas are aligned and lie in guest memory. After that, every descriptor the guest posts is checked
/// as it is walked (``popAvailable()``): indices below the table size, buffers in guest memory, no
/// loops, readable before writable, indirect tables well formed. A failed check throws a
/// ``VirtqueueError`` and touches nothing.
///
/// ## Concurrency
///
/// A queue is a value owned by one thread at a time (the device's worker). The driver runs concurrently
/// on the vCPUs; the ring indices are exchanged with acquire/release atomics and the suppression fields
/// after a full fence, as the spec's memory-ordering rules require.
///
/// ## Notification suppression
///
/// With ``VirtioFeatures/eventIndex`` the queue uses `used_event`/`avail_event`; otherwise the
/// `VIRTQ_AVAIL_F_NO_INTERRUPT`/`VIRTQ_USED_F_NO_NOTIFY` flags. The device's loop is:
///
/// ```swift
/// repeat {
///     queue.disableNotifications()
///     while let chain = try queue.popAvailable() { ... try queue.addUsed(head: chain.head, length: n) }
/// } while try queue.enableNotifications()
/// if try queue.needsInterrupt() { interrupt.signalUsedBuffers() }
/// ```
public struct SplitVirtqueue: Sendable {
    /// The number of entries (a power of two).
    public let size: UInt16
    /// The descriptor table's guest address.
    public let descriptorTable: GuestAddress
    /// The driver area's (available ring's) guest address.
    public let driverArea: GuestAddress
    /// The device area's (used ring's) guest address.
    public let deviceArea: GuestAddress
    /// Whether indirect descriptors were negotiated.
    public let indirectDescriptors: Bool
    /// Whether event-index suppression was negotiated.
    public let eventIndex: Bool
    /// The guest memory the rings and buffers live in.
    public let memory: GuestMemory

    /// The available-ring index of the next chain to take.
    public private(set) var nextAvailable: UInt16 = 0
    /// The used-ring index of the next entry to write.
    public private(set) var nextUsed: UInt16 = 0
    /// The used index when the driver was last considered for an interrupt.
    private var lastSignalledUsed: UInt16 = 0

    /// Flags and offsets from the spec.
    private static let availableNoInterrupt: UInt16 = 1
    private static let usedNoNotify: UInt16 = 1

    /// Creates a queue from the driver's configuration, checking it.
    ///
    /// - Parameters:
    ///   - size: The queue size the driver chose (`QueueNum`).
    ///   - descriptorTable: The descriptor table's guest address (16-byte aligned).
    ///   - driverArea: The available ring's guest address (2-byte aligned).
    ///   - deviceArea: The used ring's guest address (4-byte aligned).
    ///   - memory: The guest memory the rings and buffers must lie in.
    ///   - maximumSize: The device's largest supported size (`QueueNumMax`), itself at most 32768.
    ///   - features: The negotiated features (only ``VirtioFeatures/indirectDescriptors`` and
    ///     ``VirtioFeatures/eventIndex`` matter here).
    /// - Throws: ``VirtqueueError/invalidQueueSize(_:maximum:)``, ``VirtqueueError/misalignedRing(_:_:)``,
    ///   ``VirtqueueError/ringOutsideMemory(_:_:length:)``.
    public init(
        size: UInt16, maximumSize: UInt16, descriptorTable: GuestAddress, driverArea: GuestAddress,
        deviceArea: GuestAddress, features: VirtioFeatures, memory: GuestMemory
    ) throws(VirtqueueError) {
        guard size != 0, size <= maximumSize, size <= 32768, size & (size - 1) == 0 else {
            throw .invalidQueueSize(size, maximum: min(maximumSize, 32768))
        }
        let count = UInt64(size)
        let areas: [(VirtqueueError.Ring, GuestAddress, UInt64, UInt64)] = [
            (.descriptorTable, descriptorTable, 16 * count, 16),
            (.driverArea, driverArea, 6 + 2 * count, 2),
            (.deviceArea, deviceArea, 6 + 8 * count, 4),
        ]
        for (ring, address, length, alignment) in areas {
            guard address.isAligned(to: alignment) else { throw .misalignedRing(ring, address) }
            guard memory.covers(address, length: length) else { throw .ringOutsideMemory(ring, address, length: length) }
        }
        self.size = size
        self.descriptorTable = descriptorTable
        self.driverArea = driverArea
        self.deviceArea = deviceArea
        self.indirectDescriptors = features.contains(.indirectDescriptors)
        self.eventIndex = features.contains(.eventIndex)
        self.memory = memory
    }

    // MARK: Ring addresses (all inside the areas checked at creation: no overflow)

    private var availableIndexAddress: GuestAddress { GuestAddress(driverArea.rawValue + 2) }
    private func availableRingAddress(_ slot: UInt16) -> GuestAddress {
        GuestAddress(driverArea.rawValue + 4 + 2 * UInt64(slot))
    }
    private var usedEventAddress: GuestAddress { GuestAddress(driverArea.rawValue + 4 + 2 * UInt64(size)) }
    private var usedIndexAddress: GuestAddress { GuestAddress(deviceArea.rawValue + 2) }
    private func usedRingAddress(_ slot: UInt16) -> GuestAddress {
        GuestAddress(deviceArea.rawValue + 4 + 8 * UInt64(slot))
    }
    private var availableEventAddress: GuestAddress { GuestAddress(deviceArea.rawValue + 4 + 8 * UInt64(size)) }

    private func load<T: BitwiseCopyable>(_ type: T.Type, at address: GuestAddress) throws(VirtqueueError) -> T {
        do { return try memory.load(T.self, at: address) } catch { throw .memory(error) }
    }

    private func store<T: BitwiseCopyable>(_ value: T, at address: GuestAddress) throws(VirtqueueError) {
        do { try memory.store(value, at: address) } catch { throw .memory(error) }
    }

    // MARK: Taking chains

    /// Whether the driver has made chains available that the device has not taken.
    public func hasAvailable() throws(VirtqueueError) -> Bool {
        try RingIndexAccess.loadAcquiring(memory, at: availableIndexAddress) != nextAvailable
    }

    /// Takes the next available chain and walks it, or returns nil when the driver has posted nothing new.
    ///
    /// The chain's entry in the available ring is consumed even when walking it fails, so a device that
    /// chooses to fail just that request (rather than ask for a reset) can return ``VirtqueueError``'s
    /// head with ``addUsed(head:length:)``: see ``popAvailableHead()`` and ``chain(startingAt:)``.
    public mutating func popAvailable() throws(VirtqueueError) -> DescriptorChain? {
        guard let head = try popAvailableHead() else { return nil }
        return try chain(startingAt: head)
    }

    /// Takes the next available head index without walking its chain.
    public mutating func popAvailableHead() throws(VirtqueueError) -> UInt16? {
        let available = try RingIndexAccess.loadAcquiring(memory, at: availableIndexAddress)
        guard available != nextAvailable else { return nil }
        guard available &- nextAvailable <= size else {
            throw .availableIndexTooFarAhead(available: available, nextExpected: nextAvailable, queueSize: size)
        }
        let head = UInt16(littleEndian: try load(UInt16.self, at: availableRingAddress(nextAvailable & (size - 1))))
        nextAvailable &+= 1
        return head
    }

    /// Gives back the chain most recently taken by ``popAvailable()`` or ``popAvailableHead()``, unused, so
    /// that the next pop returns it again (for a device that took a buffer and then found it had nothing
    /// to put in it). Call it at most once per pop, before returning anything through ``addUsed(head:length:)``.
    public mutating func rewindAvailable() {
        nextAvailable &-= 1
    }

    /// Walks and checks the chain that starts at descriptor `head`.
    public func chain(startingAt head: UInt16) throws(VirtqueueError) -> DescriptorChain {
        guard head < size else { throw .descriptorIndexOutOfRange(head, limit: Int(size)) }
        var table = descriptorTable
        var tableSize = Int(size)
        var index = head
        var visited = 0
        var insideIndirect = false
        var readable: [VirtqueueBuffer] = []
        var writable: [VirtqueueBuffer] = []
        var readableTotal: UInt64 = 0
        var writableTotal: UInt64 = 0
        while true {
            visited += 1
            guard visited <= tableSize else { throw .chainTooLong(limit: tableSize) }
            let descriptor = try loadDescriptor(table: table, index: index)
            if descriptor.flags.contains(.indirect) {
                guard indirectDescriptors, !insideIndirect else { throw .indirectNotAllowed(index: index) }
                guard !descriptor.flags.contains(.next) else { throw .indirectWithNext(index: index) }
                let length = descriptor.length
                guard length > 0, length % 16 == 0, length / 16 <= 65536 else {
                    throw .invalidIndirectTableLength(length)
                }
                // The table itself is read 16 bytes at a time, but it must all be RAM.
                guard memory.covers(GuestAddress(descriptor.address), length: UInt64(length)) else {
                    throw .bufferOutsideMemory(GuestAddress(descriptor.address), length: length)
                }
                table = GuestAddress(descriptor.address)
                tableSize = Int(length / 16)
                index = 0
                visited = 0
                insideIndirect = true
                continue
            }
            let address = GuestAddress(descriptor.address)
            guard memory.covers(address, length: UInt64(descriptor.length)) else {
                throw .bufferOutsideMemory(address, length: descriptor.length)
            }
            let buffer = VirtqueueBuffer(address: address, length: descriptor.length)
            if descriptor.flags.contains(.write) {
                writableTotal += UInt64(descriptor.length)
                guard writableTotal <= UInt64(UInt32.max) else { throw .chainLengthOverflow }
                writable.append(buffer)
            } else {
                guard writable.isEmpty else { throw .readableAfterWritable(index: index) }
                readableTotal += UInt64(descriptor.length)
                guard readableTotal <= UInt64(UInt32.max) else { throw .chainLengthOverflow }
                readable.append(buffer)
            }
            guard descriptor.flags.contains(.next) else { break }
            guard Int(descriptor.next) < tableSize else {
                throw .descriptorIndexOutOfRange(descriptor.next, limit: tableSize)
            }
            index = descriptor.next
        }
        return DescriptorChain(head: head, readable: readable, writable: writable)
    }

    /// Reads descriptor `index` of the table at `table` (the caller checked `index` against its size and
    /// the table's range; the loads are checked again by GuestMemory).
    private func loadDescriptor(table: GuestAddress, index: UInt16) throws(VirtqueueError) -> VirtqueueDescriptor {
        let base = table.rawValue + 16 * UInt64(index)
        return VirtqueueDescriptor(
            address: UInt64(littleEndian: try load(UInt64.self, at: GuestAddress(base))),
            length: UInt32(littleEndian: try load(UInt32.self, at: GuestAddress(base + 8))),
            flags: .init(rawValue: UInt16(littleEndian: try load(UInt16.self, at: GuestAddress(base + 12)))),
            next: UInt16(littleEndian: try load(UInt16.self, at: GuestAddress(base + 14))))
    }

    // MARK: Returning chains

    /// Returns the chain that started at `head` to the driver, saying that the device wrote `length`
    /// bytes into its writable buffers, and publishes the new used index (release ordering).
    public mutating func addUsed(head: UInt16, length: UInt32) throws(VirtqueueError) {
        let entry = usedRingAddress(nextUsed & (size - 1))
        try store(UInt32(head).littleEndian, at: entry)
        try store(length.littleEndian, at: GuestAddress(entry.rawValue + 4))
        nextUsed &+= 1
        try RingIndexAccess.storeReleasing(nextUsed.littleEndian, memory, at: usedIndexAddress)
    }

    /// Whether the driver wants an interrupt for the entries added since the last call (`used_event`
    /// with event indices, otherwise `VIRTQ_AVAIL_F_NO_INTERRUPT`).
    public mutating func needsInterrupt() throws(VirtqueueError) -> Bool {
        let old = lastSignalledUsed
        let new = nextUsed
        guard old != new else { return false }
        lastSignalledUsed = new
        // Order the used-index store before reading the driver's suppression field (spec §2.7.10).
        RingIndexAccess.fullFence()
        if eventIndex {
            let usedEvent = UInt16(littleEndian: try load(UInt16.self, at: usedEventAddress))
            // vring_need_event: the driver asked for an interrupt once the used index passes used_event.
            return new &- usedEvent &- 1 < new &- old
        }
        let flags = UInt16(littleEndian: try RingIndexAccess.loadAcquiring(memory, at: driverArea))
        return flags & Self.availableNoInterrupt == 0
    }

    /// Asks the driver not to notify the device (it is busy taking chains anyway). Without event indices
    /// this sets `VIRTQ_USED_F_NO_NOTIFY`; with them it does nothing (`avail_event` is left behind, which
    /// has the same effect).
    public mutating func disableNotifications() throws(VirtqueueError) {
        guard !eventIndex else { return }
        try RingIndexAccess.storeReleasing(Self.usedNoNotify.littleEndian, memory, at: deviceArea)
    }

    /// Asks the driver to notify the device about the next chain it posts, then checks for chains that
    /// arrived meanwhile.
    ///
    /// - Returns: Whether chains are available now (the device must take them: the driver may have
    ///   posted them before it saw the request and will not notify for them).
    public mutating func enableNotifications() throws(VirtqueueError) -> Bool {
        if eventIndex {
            try RingIndexAccess.storeReleasing(nextAvailable.littleEndian, memory, at: availableEventAddress)
        } else {
            try RingIndexAccess.storeReleasing(0, memory, at: deviceArea)
        }
        // The store above must be visible before the driver's index is read again (spec §2.7.10).
        RingIndexAccess.fullFence()
        return try hasAvailable()
    }
}

extension GuestMemory {
    /// Whether all `length` bytes from `address` are backed by regions (contiguous ones may be crossed).
    /// An empty range is covered when its address is (so a zero-length buffer cannot name wild addresses).
    func covers(_ address: GuestAddress, length: UInt64) -> Bool {
        guard let last = address.adding(max(length, 1) - 1) else { return false }
        var cursor = address
        while true {
            guard let region = region(containing: cursor) else { return false }
            if region.lastAddress >= last { return true }
            cursor = GuestAddress(region.lastAddress.rawValue + 1)
        }
    }
}
