import KVM
import Testing
import VirtioQueue

/// A Swift model of a virtio driver's side of one split virtqueue, over real guest memory: it writes
/// descriptors, publishes chains in the available ring, and reads back the used ring, the way Linux's
/// virtio_ring does.
struct VirtioDriverModel {
    /// Guest RAM: `memorySize` bytes at guest address `ramBase`.
    let memory: GuestMemory
    let ramBase: UInt64
    let size: UInt16
    let descriptorTable: GuestAddress
    let driverArea: GuestAddress
    let deviceArea: GuestAddress
    /// The next free descriptor (the model hands them out in order, wrapping).
    var nextDescriptor: UInt16 = 0
    var availableIndex: UInt16 = 0
    var usedSeen: UInt16 = 0
    /// Where the next data buffer goes.
    var nextData: UInt64

    static let ramBase: UInt64 = 0x10_0000
    static let memorySize = 4 << 20

    /// A model of queue `slot` (0-2: each slot has its own rings and data area) in `memory`, or in new
    /// memory.
    init(size: UInt16 = 16, memory: GuestMemory? = nil, slot: Int = 0) throws {
        if let memory {
            self.memory = memory
        } else {
            let mapping = try MemoryMapping(byteCount: Self.memorySize)
            let region = try GuestMemoryRegion(slot: 0, guestBase: GuestAddress(Self.ramBase), mapping: mapping)
            self.memory = try GuestMemory(regions: [region])
        }
        self.ramBase = Self.ramBase
        self.size = size
        let area = Self.ramBase + UInt64(slot) * 0x4_0000
        descriptorTable = GuestAddress(area)
        driverArea = GuestAddress(area + 0x1_0000)
        deviceArea = GuestAddress(area + 0x2_0000)
        nextData = Self.ramBase + 0x10_0000 + UInt64(slot) * 0x10_0000
    }

    /// The last guest address of RAM.
    var ramEnd: UInt64 { ramBase + UInt64(Self.memorySize) }

    /// The device's view of this queue.
    func deviceQueue(features: VirtioFeatures = [.indirectDescriptors, .eventIndex], maximumSize: UInt16 = 256) throws(VirtqueueError)
        -> SplitVirtqueue
    {
        try SplitVirtqueue(
            size: size, maximumSize: maximumSize, descriptorTable: descriptorTable, driverArea: driverArea,
            deviceArea: deviceArea, features: features, memory: memory)
    }

    /// Allocates `length` bytes of data area (8-byte aligned), optionally filled with `bytes`.
    mutating func allocate(_ length: Int, filledWith bytes: [UInt8]? = nil) throws -> UInt64 {
        let address = nextData
        nextData += UInt64((length + 7) & ~7)
        precondition(nextData < ramEnd, "model ran out of data area")
        if let bytes { try memory.write(bytes: bytes, at: GuestAddress(address)) }
        return address
    }

    /// Writes descriptor `index` of the table at `table` verbatim (hostile tests use this directly).
    func writeDescriptor(_ descriptor: VirtqueueDescriptor, index: UInt16, table: GuestAddress? = nil) throws {
        let base = (table ?? descriptorTable).rawValue + 16 * UInt64(index)
        try memory.store(descriptor.address.littleEndian, at: GuestAddress(base))
        try memory.store(descriptor.length.littleEndian, at: GuestAddress(base + 8))
        try memory.store(descriptor.flags.rawValue.littleEndian, at: GuestAddress(base + 12))
        try memory.store(descriptor.next.littleEndian, at: GuestAddress(base + 14))
    }

    /// A buffer of a chain to post.
    struct Segment {
        var address: UInt64
        var length: UInt32
        var writable: Bool
    }

    /// Writes `segments` as a chain of fresh descriptors and publishes it; returns the head.
    @discardableResult
    mutating func post(_ segments: [Segment]) throws -> UInt16 {
        let head = nextDescriptor
        for (position, segment) in segments.enumerated() {
            let index = nextDescriptor
            nextDescriptor = (nextDescriptor + 1) % size
            var flags: VirtqueueDescriptor.Flags = segment.writable ? .write : []
            if position < segments.count - 1 { flags.insert(.next) }
            try writeDescriptor(
                VirtqueueDescriptor(address: segment.address, length: segment.length, flags: flags, next: nextDescriptor),
                index: index)
        }
        try publish(head: head)
        return head
    }

    /// Writes `segments` into an indirect table in the data area and posts one descriptor pointing at it.
    @discardableResult
    mutating func postIndirect(_ segments: [Segment]) throws -> UInt16 {
        let table = try allocate(16 * segments.count)
        for (position, segment) in segments.enumerated() {
            var flags: VirtqueueDescriptor.Flags = segment.writable ? .write : []
            if position < segments.count - 1 { flags.insert(.next) }
            try writeDescriptor(
                VirtqueueDescriptor(address: segment.address, length: segment.length, flags: flags, next: UInt16(position + 1)),
                index: UInt16(position), table: GuestAddress(table))
        }
        let head = nextDescriptor
        nextDescriptor = (nextDescriptor + 1) % size
        try writeDescriptor(
            VirtqueueDescriptor(address: table, length: UInt32(16 * segments.count), flags: .indirect), index: head)
        try publish(head: head)
        return head
    }

    /// Puts `head` in the available ring and bumps the available index.
    mutating func publish(head: UInt16) throws {
        try memory.store(head.littleEndian, at: GuestAddress(driverArea.rawValue + 4 + 2 * UInt64(availableIndex % size)))
        availableIndex &+= 1
        try memory.store(availableIndex.littleEndian, at: GuestAddress(driverArea.rawValue + 2))
    }

    /// Sets the available ring's index directly (hostile tests).
    func setAvailableIndex(_ index: UInt16) throws {
        try memory.store(index.littleEndian, at: GuestAddress(driverArea.rawValue + 2))
    }

    /// The used ring's index.
    func usedIndex() throws -> UInt16 { try memory.load(UInt16.self, at: GuestAddress(deviceArea.rawValue + 2)) }

    /// The used entries published since the last call: (head, length).
    mutating func takeUsed() throws -> [(head: UInt16, length: UInt32)] {
        let index = try usedIndex()
        var entries: [(UInt16, UInt32)] = []
        while usedSeen != index {
            let entry = deviceArea.rawValue + 4 + 8 * UInt64(usedSeen % size)
            let head = try memory.load(UInt32.self, at: GuestAddress(entry))
            let length = try memory.load(UInt32.self, at: GuestAddress(entry + 4))
            entries.append((UInt16(head), length))
            usedSeen &+= 1
        }
        return entries
    }

    /// Writes `used_event` (the driver's interrupt threshold with event indices).
    func setUsedEvent(_ value: UInt16) throws {
        try memory.store(value.littleEndian, at: GuestAddress(driverArea.rawValue + 4 + 2 * UInt64(size)))
    }

    /// Writes the available ring's flags (1: no interrupt).
    func setAvailableFlags(_ value: UInt16) throws {
        try memory.store(value.littleEndian, at: driverArea)
    }

    /// The used ring's flags (1: no notify).
    func usedFlags() throws -> UInt16 { try memory.load(UInt16.self, at: deviceArea) }

    /// `avail_event`, written by the device with event indices.
    func availableEvent() throws -> UInt16 {
        try memory.load(UInt16.self, at: GuestAddress(deviceArea.rawValue + 4 + 8 * UInt64(size)))
    }
}

/// The VirtqueueError a throwing body threw, or nil.
func virtqueueError(_ body: () throws -> Void) -> VirtqueueError? {
    do {
        try body()
        return nil
    } catch let error as VirtqueueError {
        return error
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}
