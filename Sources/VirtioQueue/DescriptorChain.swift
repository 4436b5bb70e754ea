import KVM

/// One buffer of a descriptor chain: a range of guest memory that has been checked to lie in RAM.
public struct VirtqueueBuffer: Sendable, Hashable {
    /// The guest-physical address of the first byte.
    public let address: GuestAddress
    /// The length in bytes (may be 0).
    public let length: UInt32

    public init(address: GuestAddress, length: UInt32) {
        self.address = address
        self.length = length
    }
}

/// A request the driver posted: the chain of descriptors that starts at ``head``, walked and checked.
///
/// Every buffer lies in guest memory, the device-readable buffers all come before the device-writable
/// ones, and each direction's total fits the used ring's 32-bit length. The guest may still change the
/// bytes *in* the buffers at any time (it owns them until the chain is returned), so a device copies what
/// it needs once and validates the copy, never the guest's memory twice.
public struct DescriptorChain: Sendable, Hashable {
    /// The index of the chain's first descriptor: what the device returns in the used ring.
    public let head: UInt16
    /// The device-readable buffers, in chain order.
    public let readable: [VirtqueueBuffer]
    /// The device-writable buffers, in chain order.
    public let writable: [VirtqueueBuffer]

    public init(head: UInt16, readable: [VirtqueueBuffer], writable: [VirtqueueBuffer]) {
        self.head = head
        self.readable = readable
        self.writable = writable
    }

    /// The total length of the device-readable buffers.
    public var readableLength: Int { readable.reduce(0) { $0 + Int($1.length) } }
    /// The total length of the device-writable buffers.
    public var writableLength: Int { writable.reduce(0) { $0 + Int($1.length) } }

    /// A cursor that reads the device-readable buffers in order, as one byte stream.
    public func reader(in memory: GuestMemory) -> VirtqueueReader { VirtqueueReader(buffers: readable, memory: memory) }
    /// A cursor that writes the device-writable buffers in order, as one byte stream.
    public func writer(in memory: GuestMemory) -> VirtqueueWriter { VirtqueueWriter(buffers: writable, memory: memory) }
}

/// Reads a chain's device-readable buffers as one stream of bytes.
public struct VirtqueueReader: Sendable {
    private let buffers: [VirtqueueBuffer]
    private let memory: GuestMemory
    private var index = 0
    private var offset: UInt32 = 0
    /// How many bytes are left to read.
    public private(set) var remaining: Int

    init(buffers: [VirtqueueBuffer], memory: GuestMemory) {
        self.buffers = buffers
        self.memory = memory
        self.remaining = buffers.reduce(0) { $0 + Int($1.length) }
    }

    /// Reads the next `count` bytes; fewer if the buffers end first.
    public mutating func read(upTo count: Int) throws(GuestMemoryError) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(min(count, remaining))
        let memory = self.memory
        try forEachPiece(upTo: count) { (address, length) throws(GuestMemoryError) in
            result += try memory.readBytes(at: address, count: length)
        }
        return result
    }

    /// Reads exactly `count` bytes, or returns nil (consuming nothing) if fewer remain.
    public mutating func read(exactly count: Int) throws(GuestMemoryError) -> [UInt8]? {
        guard count <= remaining else { return nil }
        return try read(upTo: count)
    }

    /// Skips up to `count` bytes.
    public mutating func skip(_ count: Int) {
        try? forEachPiece(upTo: count) { _, _ in }
    }

    /// Calls `body` with each (address, length) piece of the next `count` bytes, and advances past them.
    public mutating func forEachPiece(
        upTo count: Int, _ body: (GuestAddress, Int) throws(GuestMemoryError) -> Void
    ) throws(GuestMemoryError) {
        var wanted = max(0, min(count, remaining))
        while wanted > 0, index < buffers.count {
            let buffer = buffers[index]
            let available = Int(buffer.length - offset)
            let take = min(available, wanted)
            if take > 0 {
                // The chain walk checked that the whole buffer lies in memory, so address + offset cannot overflow.
                try body(GuestAddress(buffer.address.rawValue + UInt64(offset)), take)
            }
            wanted -= take
            remaining -= take
            offset += UInt32(take)
            if offset == buffer.length {
                index += 1
                offset = 0
            }
        }
    }
}

/// Writes a chain's device-writable buffers as one stream of bytes, and counts what it wrote (the
/// length the device reports in the used ring).
public struct VirtqueueWriter: Sendable {
    private let buffers: [VirtqueueBuffer]
    private let memory: GuestMemory
    private var index = 0
    private var offset: UInt32 = 0
    /// How many bytes fit in what is left.
    public private(set) var remaining: Int
    /// How many bytes have been written.
    public private(set) var written = 0

    init(buffers: [VirtqueueBuffer], memory: GuestMemory) {
        self.buffers = buffers
        self.memory = memory
        self.remaining = buffers.reduce(0) { $0 + Int($1.length) }
    }

    /// Writes as much of `bytes` as fits; returns how many bytes were written.
    @discardableResult
    public mutating func write(_ bytes: some Collection<UInt8>) throws(GuestMemoryError) -> Int {
        let array = Array(bytes)
        var done = 0
        let memory = self.memory
        try forEachPiece(upTo: array.count) { (address, length) throws(GuestMemoryError) in
            try memory.write(bytes: Array(array[done ..< done + length]), at: address)
            done += length
        }
        return done
    }

    /// Calls `body` with each (address, length) piece of the next `count` writable bytes, counts them as
    /// written, and advances past them.
    public mutating func forEachPiece(
        upTo count: Int, _ body: (GuestAddress, Int) throws(GuestMemoryError) -> Void
    ) throws(GuestMemoryError) {
        var wanted = max(0, min(count, remaining))
        while wanted > 0, index < buffers.count {
            let buffer = buffers[index]
            let take = min(Int(buffer.length - offset), wanted)
            if take > 0 {
                // The chain walk checked that the whole buffer lies in memory, so address + offset cannot overflow.
                try body(GuestAddress(buffer.address.rawValue + UInt64(offset)), take)
            }
            wanted -= take
            remaining -= take
            written += take
            offset += UInt32(take)
            if offset == buffer.length {
                index += 1
                offset = 0
            }
        }
    }
}
