import DeviceBus
import Synchronization
import Testing

/// A device that records every access and answers reads with `base + offset` in each byte lane.
final class RecordingDevice: BusDevice {
    struct Access: Equatable {
        var isWrite: Bool
        var offset: UInt64
        var size: Int
        var value: UInt64
    }

    let tag: UInt64
    let request: MachineRequest?
    private let log = Mutex<[Access]>([])

    init(tag: UInt64 = 0xA0, request: MachineRequest? = nil) {
        self.tag = tag
        self.request = request
    }

    var accesses: [Access] { log.withLock { $0 } }

    func read(at offset: UInt64, size: Int) -> UInt64 {
        log.withLock { $0.append(Access(isWrite: false, offset: offset, size: size, value: 0)) }
        return 0x1122_3344_5566_7700 | tag
    }

    func write(at offset: UInt64, size: Int, value: UInt64) -> MachineRequest? {
        log.withLock { $0.append(Access(isWrite: true, offset: offset, size: size, value: value)) }
        return request
    }
}

struct BusRoutingTests {
    @Test func accessesReachTheDeviceWhoseRangeHoldsThemAtTheirOffset() throws {
        var bus = Bus.portIO()
        let uart = RecordingDevice(tag: 1), rtc = RecordingDevice(tag: 2), far = RecordingDevice(tag: 3)
        try bus.register(uart, base: 0x3F8, size: 8)
        try bus.register(rtc, base: 0x70, size: 2)
        try bus.register(far, base: 0xFFF0, size: 0x10)
        #expect(bus.registrations.map(\.range.base) == [0x70, 0x3F8, 0xFFF0], "kept sorted")

        #expect(bus.read(at: 0x3FD, size: 1) == .claimed(0x01))
        #expect(bus.write(at: 0x3F8, size: 1, value: 0x1FF) == .claimed(nil))
        #expect(bus.read(at: 0x71, size: 1) == .claimed(0x02))
        #expect(bus.read(at: 0xFFFE, size: 2) == .claimed(0x7703), "cut to the access size")
        #expect(uart.accesses == [
            .init(isWrite: false, offset: 5, size: 1, value: 0),
            .init(isWrite: true, offset: 0, size: 1, value: 0xFF),  // the low byte only
        ])
        #expect(rtc.accesses.map(\.offset) == [1])
        #expect(far.accesses.map(\.offset) == [0xE])
    }

    @Test func unclaimedReadsAreAllOnesAndWritesAreDroppedButVisible() throws {
        var bus = Bus.portIO()
        let device = RecordingDevice()
        try bus.register(device, base: 0x60, size: 1)
        for size in [1, 2, 4] {
            let read = bus.read(at: 0x61, size: size)
            #expect(read == .unclaimed(UnclaimedAccess(address: 0x61, size: size, reason: .noDevice)))
            #expect(read.value == (1 << (8 * UInt64(size))) - 1)
        }
        #expect(bus.read(at: 0x5F, size: 8).value == .max)
        #expect(bus.write(at: 0x5F, size: 1, value: 1) == .unclaimed(UnclaimedAccess(address: 0x5F, size: 1, reason: .noDevice)))
        #expect(bus.write(at: 0x5F, size: 1, value: 1).request == nil)
        #expect(Bus().read(at: 0, size: 4).value == 0xFFFF_FFFF, "an empty bus")
        #expect(device.accesses.isEmpty)
    }

    @Test func accessesThatRunPastTheRangeEndReachNoDevice() throws {
        var bus = Bus.mmio()
        let device = RecordingDevice()
        try bus.register(device, base: 0xD000_0000, size: 0x100)
        #expect(bus.read(at: 0xD000_00FC, size: 4) == .claimed(0x5566_77A0), "the last four bytes")
        #expect(bus.read(at: 0xD000_00FD, size: 4)
            == .unclaimed(UnclaimedAccess(address: 0xD000_00FD, size: 4, reason: .crossesRangeEnd(try BusRange(base: 0xD000_0000, size: 0x100)))))
        #expect(bus.write(at: 0xD000_00FF, size: 2, value: 0xFFFF).request == nil)
        #expect(bus.read(at: 0xD000_00FF, size: 1) == .claimed(0xA0), "a byte at the end is fine")
        #expect(device.accesses.map(\.offset) == [0xFC, 0xFF])
    }

    @Test func sizesOutsideOneToEightReachNoDevice() throws {
        var bus = Bus.mmio()
        let device = RecordingDevice()
        try bus.register(device, base: 0, size: 0x1000)
        #expect(bus.read(at: 0xFFD, size: 3) == .claimed(0x6677A0), "a 3-byte fragment of a split access")
        for size in [0, 9, 16, -1] {
            #expect(bus.read(at: 0, size: size) == .unclaimed(UnclaimedAccess(address: 0, size: size, reason: .invalidSize)))
        }
        #expect(device.accesses.map(\.size) == [3])
    }

    @Test func rangesReachingTheTopOfTheAddressSpaceWork() throws {
        var bus = Bus.mmio()
        let top = RecordingDevice(tag: 7)
        try bus.register(top, base: .max - 7, size: 8)
        #expect(bus.read(at: .max, size: 1) == .claimed(0x07))
        #expect(bus.read(at: .max - 7, size: 8) == .claimed(0x1122_3344_5566_7707))
        #expect(bus.read(at: .max - 1, size: 4).value == 0xFFFF_FFFF, "runs past the top")
        #expect(bus.registration(containing: .max - 8) == nil)
        #expect(try BusRange(base: 0, size: .max).last == .max - 1)
    }

    @Test func requestsFromDevicesComeBackToTheWriter() throws {
        var bus = Bus.portIO()
        try bus.register(RecordingDevice(request: .exit(status: 3)), base: 0xF4, size: 4)
        #expect(bus.write(at: 0xF4, size: 4, value: 1) == .claimed(.exit(status: 3)))
        #expect(bus.write(at: 0xF4, size: 4, value: 1).request == .exit(status: 3))
    }
}

struct BusRegistrationTests {
    @Test(arguments: [
        (0x3F8 as UInt64, 8 as UInt64, "the same range"),
        (0x3F0, 9, "ends on the first address"),
        (0x3FF, 1, "the last address"),
        (0x3FA, 2, "inside"),
        (0x300, 0x200, "around"),
    ])
    func overlappingRegistrationsAreRefused(base: UInt64, size: UInt64, what: String) throws {
        var bus = Bus.portIO()
        try bus.register(RecordingDevice(), base: 0x3F8, size: 8)
        let existing = try BusRange(base: 0x3F8, size: 8)
        #expect(throws: BusError.overlap(try BusRange(base: base, size: size), existing: existing), "\(what)") {
            try bus.register(RecordingDevice(), base: base, size: size)
        }
        #expect(bus.registrations.count == 1, "nothing was added")
    }

    @Test func adjacentRangesAreFine() throws {
        var bus = Bus.portIO()
        try bus.register(RecordingDevice(tag: 1), base: 0x3F8, size: 8)
        try bus.register(RecordingDevice(tag: 2), base: 0x3F0, size: 8)
        try bus.register(RecordingDevice(tag: 3), base: 0x400, size: 1)
        #expect(bus.read(at: 0x3F7, size: 1) == .claimed(0x02))
        #expect(bus.read(at: 0x3F8, size: 1) == .claimed(0x01))
        #expect(bus.read(at: 0x400, size: 1) == .claimed(0x03))
    }

    @Test func emptyOverflowingAndOutOfSpaceRangesAreRefused() throws {
        var bus = Bus.portIO()
        #expect(throws: BusError.emptyRange(base: 0x10)) { try bus.register(RecordingDevice(), base: 0x10, size: 0) }
        #expect(throws: BusError.rangeOverflows(base: .max, size: 2)) { try BusRange(base: .max, size: 2) }
        #expect(throws: BusError.outsideAddressSpace(try BusRange(base: 0xFFFF, size: 2), limit: 0xFFFF)) {
            try bus.register(RecordingDevice(), base: 0xFFFF, size: 2)
        }
        #expect(bus.registrations.isEmpty)
        #expect("\(BusError.overlap(try BusRange(base: 1, size: 1), existing: try BusRange(base: 0, size: 4)))".contains("0x0-0x3"))
    }

    @Test func unregisterRemovesExactlyThatRange() throws {
        var bus = Bus.portIO()
        try bus.register(RecordingDevice(), base: 0x60, size: 1)
        #expect(bus.unregister(try BusRange(base: 0x60, size: 2)) == nil)
        #expect(bus.unregister(try BusRange(base: 0x60, size: 1)) != nil)
        #expect(bus.read(at: 0x60, size: 1).value == 0xFF)
        try bus.register(RecordingDevice(), base: 0x60, size: 1)
    }

    /// Many registrations, looked up at every boundary: the binary search agrees with a linear scan.
    @Test func lookupAgreesWithALinearScan() throws {
        var bus = Bus.mmio()
        var ranges: [BusRange] = []
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        for _ in 0..<300 {
            let range = try BusRange(base: next() % 0x10_0000, size: 1 + next() % 0x100)
            if ranges.contains(where: { $0.overlaps(range) }) {
                #expect(throws: BusError.self) { try bus.register(RecordingDevice(), at: range) }
            } else {
                try bus.register(RecordingDevice(), at: range)
                ranges.append(range)
            }
        }
        for range in ranges {
            for address in [range.base &- 1, range.base, range.last, range.last &+ 1] {
                #expect(bus.registration(containing: address)?.range == ranges.first { $0.contains(address) })
            }
        }
    }
}
