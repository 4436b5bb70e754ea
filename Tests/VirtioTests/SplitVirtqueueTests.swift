import KVM
import Testing
import VirtioQueue

@Suite("Split virtqueue")
struct SplitVirtqueueTests {
    @Test("A readable+writable chain is walked, read, written and returned through the used ring")
    func roundTrip() throws {
        var driver = try VirtioDriverModel()
        var queue = try driver.deviceQueue()
        let request = try driver.allocate(5, filledWith: Array("hello".utf8))
        let reply = try driver.allocate(8)
        let head = try driver.post([.init(address: request, length: 5, writable: false), .init(address: reply, length: 8, writable: true)])

        let chain = try #require(try queue.popAvailable())
        #expect(chain.head == head)
        #expect(chain.readable == [VirtqueueBuffer(address: GuestAddress(request), length: 5)])
        #expect(chain.writable == [VirtqueueBuffer(address: GuestAddress(reply), length: 8)])
        var reader = chain.reader(in: driver.memory)
        #expect(try reader.read(upTo: 100) == Array("hello".utf8))
        var writer = chain.writer(in: driver.memory)
        try writer.write(Array("HELLO".utf8))
        try queue.addUsed(head: chain.head, length: UInt32(writer.written))
        #expect(try queue.popAvailable() == nil)

        let used = try driver.takeUsed()
        #expect(used.count == 1 && used[0].head == head && used[0].length == 5)
        #expect(try driver.memory.readBytes(at: GuestAddress(reply), count: 5) == Array("HELLO".utf8))
    }

    @Test("Readers and writers stream across several buffers, including empty ones")
    func streamsAcrossBuffers() throws {
        var driver = try VirtioDriverModel()
        var queue = try driver.deviceQueue()
        let a = try driver.allocate(3, filledWith: [1, 2, 3])
        let b = try driver.allocate(0)
        let c = try driver.allocate(4, filledWith: [4, 5, 6, 7])
        let w1 = try driver.allocate(2), w2 = try driver.allocate(6)
        try driver.post([
            .init(address: a, length: 3, writable: false), .init(address: b, length: 0, writable: false),
            .init(address: c, length: 4, writable: false), .init(address: w1, length: 2, writable: true),
            .init(address: w2, length: 6, writable: true),
        ])
        let chain = try #require(try queue.popAvailable())
        #expect(chain.readableLength == 7 && chain.writableLength == 8)
        var reader = chain.reader(in: driver.memory)
        #expect(try reader.read(exactly: 2) == [1, 2])
        #expect(try reader.read(exactly: 9) == nil)
        #expect(try reader.read(upTo: 10) == [3, 4, 5, 6, 7])
        var writer = chain.writer(in: driver.memory)
        #expect(try writer.write([9, 8, 7, 6, 5, 4, 3, 2, 1]) == 8)
        #expect(try driver.memory.readBytes(at: GuestAddress(w1), count: 2) == [9, 8])
        #expect(try driver.memory.readBytes(at: GuestAddress(w2), count: 6) == [7, 6, 5, 4, 3, 2])
    }

    @Test("Queue sizes must be powers of two between 1 and the maximum", arguments: [0, 3, 6, 100, 512, 1000] as [UInt16])
    func invalidSizes(size: UInt16) throws {
        let driver = try VirtioDriverModel(size: size == 0 ? 16 : size)
        let error = virtqueueError {
            _ = try SplitVirtqueue(
                size: size, maximumSize: 256, descriptorTable: driver.descriptorTable, driverArea: driver.driverArea,
                deviceArea: driver.deviceArea, features: [], memory: driver.memory)
        }
        #expect(error == .invalidQueueSize(size, maximum: 256))
    }

    @Test("Misaligned rings and rings outside RAM are rejected")
    func ringPlacement() throws {
        let driver = try VirtioDriverModel()
        func make(_ table: UInt64, _ avail: UInt64, _ used: UInt64) -> VirtqueueError? {
            virtqueueError {
                _ = try SplitVirtqueue(
                    size: 16, maximumSize: 256, descriptorTable: GuestAddress(table), driverArea: GuestAddress(avail),
                    deviceArea: GuestAddress(used), features: [], memory: driver.memory)
            }
        }
        let (t, a, u) = (driver.descriptorTable.rawValue, driver.driverArea.rawValue, driver.deviceArea.rawValue)
        #expect(make(t + 8, a, u) == .misalignedRing(.descriptorTable, GuestAddress(t + 8)))
        #expect(make(t, a + 1, u) == .misalignedRing(.driverArea, GuestAddress(a + 1)))
        #expect(make(t, a, u + 2) == .misalignedRing(.deviceArea, GuestAddress(u + 2)))
        #expect(make(0, a, u) == .ringOutsideMemory(.descriptorTable, GuestAddress(0), length: 256))
        let end = driver.ramEnd
        #expect(make(t, a, end - 64) == .ringOutsideMemory(.deviceArea, GuestAddress(end - 64), length: 6 + 8 * 16))
        #expect(make(t, 0xFFFF_FFFF_FFFF_FFF0, u) == .ringOutsideMemory(.driverArea, GuestAddress(0xFFFF_FFFF_FFFF_FFF0), length: 38))
    }

    @Test("A chain that loops is rejected after queue-size descriptors")
    func loopingChain() throws {
        let driver = try VirtioDriverModel(size: 8)
        var queue = try driver.deviceQueue()
        let buffer = driver.ramBase + 0x30_0000
        try driver.writeDescriptor(.init(address: buffer, length: 4, flags: .next, next: 1), index: 0)
        try driver.writeDescriptor(.init(address: buffer, length: 4, flags: .next, next: 0), index: 1)
        var model = driver
        try model.publish(head: 0)
        #expect(virtqueueError { _ = try queue.popAvailable() } == .chainTooLong(limit: 8))
        // The malformed entry was consumed: the queue does not spin on it.
        #expect(try queue.popAvailable() == nil)
    }

    @Test("Indices past the table are rejected: the head and a next")
    func indexOutOfRange() throws {
        var driver = try VirtioDriverModel(size: 8)
        var queue = try driver.deviceQueue()
        try driver.publish(head: 8)
        #expect(virtqueueError { _ = try queue.popAvailable() } == .descriptorIndexOutOfRange(8, limit: 8))
        try driver.writeDescriptor(.init(address: driver.ramBase + 0x30_0000, length: 4, flags: .next, next: 200), index: 3)
        try driver.publish(head: 3)
        #expect(virtqueueError { _ = try queue.popAvailable() } == .descriptorIndexOutOfRange(200, limit: 8))
    }

    @Test("Buffers outside RAM, huge lengths and address overflow are rejected; empty buffers are accepted")
    func bufferRanges() throws {
        var driver = try VirtioDriverModel()
        var queue = try driver.deviceQueue()
        let inside = driver.ramBase + 0x30_0000
        let cases: [(UInt64, UInt32)] = [
            (0x1000, 4),  // below RAM
            (driver.ramEnd - 2, 4),  // runs off the end
            (inside, 0xFFFF_FFFF),  // huge length
            (0xFFFF_FFFF_FFFF_FFFE, 4),  // wraps the address space
        ]
        for (address, length) in cases {
            try driver.post([.init(address: address, length: length, writable: true)])
            #expect(virtqueueError { _ = try queue.popAvailable() } == .bufferOutsideMemory(GuestAddress(address), length: length))
        }
        try driver.post([.init(address: inside, length: 0, writable: false)])
        let chain = try #require(try queue.popAvailable())
        #expect(chain.readable == [VirtqueueBuffer(address: GuestAddress(inside), length: 0)])
        // An empty buffer still may not name an address outside RAM.
        try driver.post([.init(address: 0x10, length: 0, writable: false)])
        #expect(virtqueueError { _ = try queue.popAvailable() } == .bufferOutsideMemory(GuestAddress(0x10), length: 0))
    }

    @Test("A device-readable buffer after a device-writable one is rejected")
    func wrongDirection() throws {
        var driver = try VirtioDriverModel()
        var queue = try driver.deviceQueue()
        let buffer = try driver.allocate(16)
        let head = try driver.post([.init(address: buffer, length: 8, writable: true), .init(address: buffer, length: 8, writable: false)])
        #expect(virtqueueError { _ = try queue.popAvailable() } == .readableAfterWritable(index: head + 1))
    }

    @Test("An available index more than a queue ahead is rejected")
    func availableIndexJump() throws {
        let driver = try VirtioDriverModel(size: 8)
        var queue = try driver.deviceQueue()
        try driver.setAvailableIndex(9)
        #expect(virtqueueError { _ = try queue.popAvailable() } == .availableIndexTooFarAhead(available: 9, nextExpected: 0, queueSize: 8))
    }

    @Test("Indirect tables are walked when negotiated")
    func indirectChain() throws {
        var driver = try VirtioDriverModel()
        var queue = try driver.deviceQueue()
        let a = try driver.allocate(4, filledWith: [1, 2, 3, 4]), b = try driver.allocate(8)
        let head = try driver.postIndirect([.init(address: a, length: 4, writable: false), .init(address: b, length: 8, writable: true)])
        let chain = try #require(try queue.popAvailable())
        #expect(chain.head == head)
        #expect(chain.readable == [VirtqueueBuffer(address: GuestAddress(a), length: 4)])
        #expect(chain.writable == [VirtqueueBuffer(address: GuestAddress(b), length: 8)])
    }

    @Test("Bad indirect descriptors are rejected")
    func hostileIndirect() throws {
        var driver = try VirtioDriverModel()
        let buffer = try driver.allocate(64)
        // Not negotiated.
        var plain = try driver.deviceQueue(features: [])
        let head = try driver.postIndirect([.init(address: buffer, length: 4, writable: false)])
        #expect(virtqueueError { _ = try plain.popAvailable() } == .indirectNotAllowed(index: head))

        var queue = try driver.deviceQueue()
        _ = try queue.popAvailableHead()  // skip the entry above
        func postRaw(_ descriptor: VirtqueueDescriptor) throws {
            let index = driver.nextDescriptor
            driver.nextDescriptor = (driver.nextDescriptor + 1) % driver.size
            try driver.writeDescriptor(descriptor, index: index)
            try driver.publish(head: index)
        }
        let table = try driver.allocate(64)
        for length: UInt32 in [0, 15, 17] {
            try postRaw(.init(address: table, length: length, flags: .indirect))
            #expect(virtqueueError { _ = try queue.popAvailable() } == .invalidIndirectTableLength(length))
        }
        try postRaw(.init(address: table, length: 0x10_0000 * 16, flags: .indirect))
        #expect(virtqueueError { _ = try queue.popAvailable() } == .invalidIndirectTableLength(0x10_0000 * 16))
        // A table outside RAM.
        try postRaw(.init(address: driver.ramEnd - 16, length: 32, flags: .indirect))
        #expect(virtqueueError { _ = try queue.popAvailable() } == .bufferOutsideMemory(GuestAddress(driver.ramEnd - 16), length: 32))
        // INDIRECT together with NEXT.
        try postRaw(.init(address: table, length: 32, flags: [.indirect, .next], next: 0))
        #expect(virtqueueError { _ = try queue.popAvailable() } == .indirectWithNext(index: driver.nextDescriptor - 1))
        // An indirect descriptor inside an indirect table.
        try driver.writeDescriptor(.init(address: table, length: 32, flags: .indirect), index: 0, table: GuestAddress(table))
        try postRaw(.init(address: table, length: 32, flags: .indirect))
        #expect(virtqueueError { _ = try queue.popAvailable() } == .indirectNotAllowed(index: 0))
        // A loop inside the table (2 entries): 0 -> 1 -> 0.
        try driver.writeDescriptor(.init(address: buffer, length: 4, flags: .next, next: 1), index: 0, table: GuestAddress(table))
        try driver.writeDescriptor(.init(address: buffer, length: 4, flags: .next, next: 0), index: 1, table: GuestAddress(table))
        try postRaw(.init(address: table, length: 32, flags: .indirect))
        #expect(virtqueueError { _ = try queue.popAvailable() } == .chainTooLong(limit: 2))
        // A next past the table's end.
        try driver.writeDescriptor(.init(address: buffer, length: 4, flags: .next, next: 2), index: 1, table: GuestAddress(table))
        try postRaw(.init(address: table, length: 32, flags: .indirect))
        #expect(virtqueueError { _ = try queue.popAvailable() } == .descriptorIndexOutOfRange(2, limit: 2))
    }

    @Test("Event index: used_event decides interrupts and avail_event asks for notifications")
    func eventIndex() throws {
        var driver = try VirtioDriverModel()
        var queue = try driver.deviceQueue(features: [.eventIndex])
        let buffer = try driver.allocate(4)
        for _ in 0 ..< 3 { try driver.post([.init(address: buffer, length: 4, writable: true)]) }
        try driver.setUsedEvent(1)  // interrupt once the used index passes 1 (i.e. reaches 2)
        let first = try #require(try queue.popAvailable())
        try queue.addUsed(head: first.head, length: 0)
        #expect(try queue.needsInterrupt() == false)  // used index 1: not past 1
        let second = try #require(try queue.popAvailable())
        try queue.addUsed(head: second.head, length: 0)
        #expect(try queue.needsInterrupt() == true)  // used index 2
        #expect(try queue.needsInterrupt() == false)  // nothing new
        #expect(try queue.enableNotifications() == true)  // the third chain is pending
        #expect(try driver.availableEvent() == 2)
        _ = try #require(try queue.popAvailable())
        #expect(try queue.enableNotifications() == false)
        #expect(try driver.availableEvent() == 3)
        try queue.disableNotifications()
        #expect(try driver.usedFlags() == 0)  // with event indices the flag is not used
    }

    @Test("Without event index the flags suppress notifications and interrupts")
    func suppressionFlags() throws {
        var driver = try VirtioDriverModel()
        var queue = try driver.deviceQueue(features: [])
        try queue.disableNotifications()
        #expect(try driver.usedFlags() == 1)
        #expect(try queue.enableNotifications() == false)
        #expect(try driver.usedFlags() == 0)
        let buffer = try driver.allocate(4)
        try driver.post([.init(address: buffer, length: 4, writable: true)])
        try driver.setAvailableFlags(1)
        let chain = try #require(try queue.popAvailable())
        try queue.addUsed(head: chain.head, length: 4)
        #expect(try queue.needsInterrupt() == false)
        try driver.post([.init(address: buffer, length: 4, writable: true)])
        try driver.setAvailableFlags(0)
        let next = try #require(try queue.popAvailable())
        try queue.addUsed(head: next.head, length: 4)
        #expect(try queue.needsInterrupt() == true)
    }
}
