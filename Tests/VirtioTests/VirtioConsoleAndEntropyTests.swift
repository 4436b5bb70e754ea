import Glibc
import KVM
import Synchronization
import Testing
import VirtioDevices
import VirtioMMIO
import VirtioQueue

/// Collects console output.
final class OutputSink: Sendable {
    let bytes = Mutex<[UInt8]>([])
    var attachmentOutput: @Sendable ([UInt8]) -> Void { { [self] new in bytes.withLock { $0 += new } } }
    var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
}

@Suite("virtio-console")
struct VirtioConsoleDeviceTests {
    @Test("Guest output on the transmit queue reaches the sink in order")
    func output() throws {
        let sink = OutputSink()
        let device = VirtioConsoleDevice(configuration: .init(attachment: .init(output: sink.attachmentOutput)))
        var (driver, models) = try MMIODriver.ready(device, queues: 2)
        for line in ["Linux version 6.1\n", "Run /init\n"] {
            let address = try models[1].allocate(line.utf8.count, filledWith: Array(line.utf8))
            try models[1].post([.init(address: address, length: UInt32(line.utf8.count), writable: false)])
        }
        driver.notify(1)
        let used = try waitForUsed(&models[1], count: 2)
        #expect(used.map(\.length) == [0, 0])
        #expect(sink.text == "Linux version 6.1\nRun /init\n")
        // The configuration space: 80x25, one port.
        #expect(driver.transport.read(at: 0x100, size: 2) == 80)
        #expect(driver.transport.read(at: 0x102, size: 2) == 25)
        #expect(driver.transport.read(at: 0x104, size: 4) == 1)
    }

    @Test("Input from a pipe fills receive buffers, and waits while the guest has posted none")
    func input() throws {
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        defer { close(pipeEnds[0]); close(pipeEnds[1]) }
        let sink = OutputSink()
        let device = VirtioConsoleDevice(
            configuration: .init(attachment: .init(inputFileDescriptor: pipeEnds[0], output: sink.attachmentOutput)))
        var (driver, models) = try MMIODriver.ready(device, queues: 2)
        // Input arrives before any receive buffer: it is held.
        _ = "hello".withCString { write(pipeEnds[1], $0, 5) }
        usleep(50_000)
        #expect(try models[0].takeUsed().isEmpty)
        let first = try models[0].allocate(3)
        let second = try models[0].allocate(16)
        try models[0].post([.init(address: first, length: 3, writable: true)])
        try models[0].post([.init(address: second, length: 16, writable: true)])
        driver.notify(0)
        let used = try waitForUsed(&models[0], count: 2)
        #expect(used.map(\.length) == [3, 2])
        #expect(try driver.memory.readBytes(at: GuestAddress(first), count: 3) == Array("hel".utf8))
        #expect(try driver.memory.readBytes(at: GuestAddress(second), count: 2) == Array("lo".utf8))
        // More input goes straight into a posted buffer.
        try models[0].post([.init(address: second, length: 16, writable: true)])
        driver.notify(0)
        _ = "!".withCString { write(pipeEnds[1], $0, 1) }
        #expect(try waitForUsed(&models[0], count: 1).map(\.length) == [1])
        #expect(try driver.memory.readBytes(at: GuestAddress(second), count: 1) == Array("!".utf8))
    }

    @Test("A transmit chain with a device-writable buffer before a readable one makes the device need a reset")
    func hostileTransmit() throws {
        let sink = OutputSink()
        let device = VirtioConsoleDevice(configuration: .init(attachment: .init(output: sink.attachmentOutput)))
        var (driver, models) = try MMIODriver.ready(device, queues: 2)
        let address = try models[1].allocate(8)
        try models[1].post([.init(address: address, length: 4, writable: true), .init(address: address, length: 4, writable: false)])
        driver.notify(1)
        #expect(eventually { driver.status.contains(.deviceNeedsReset) })
        #expect(sink.text.isEmpty)
    }
}

@Suite("virtio-rng")
struct VirtioEntropyDeviceTests {
    @Test("Writable buffers are filled with random bytes, whole, across several buffers")
    func fillsBuffers() throws {
        var (driver, models) = try MMIODriver.ready(VirtioEntropyDevice(), queues: 1)
        let a = try models[0].allocate(64, filledWith: [UInt8](repeating: 0, count: 64))
        let b = try models[0].allocate(64, filledWith: [UInt8](repeating: 0, count: 64))
        try models[0].post([.init(address: a, length: 64, writable: true), .init(address: b, length: 64, writable: true)])
        driver.notify(0)
        let used = try waitForUsed(&models[0], count: 1)
        #expect(used.first?.length == 128)
        let bytes = try driver.memory.readBytes(at: GuestAddress(a), count: 64) + driver.memory.readBytes(at: GuestAddress(b), count: 64)
        // 128 random bytes are all zero with probability 2^-1024.
        #expect(bytes.contains { $0 != 0 })
        #expect(Set(bytes).count > 32)
    }

    @Test("A chain with an out-of-range buffer makes the device need a reset")
    func hostileBuffer() throws {
        var (driver, models) = try MMIODriver.ready(VirtioEntropyDevice(), queues: 1)
        try models[0].post([.init(address: 0x1_0000_0000, length: 64, writable: true)])
        driver.notify(0)
        #expect(eventually { driver.status.contains(.deviceNeedsReset) })
        #expect(driver.errors.all == [.queue(index: 0, .bufferOutsideMemory(GuestAddress(0x1_0000_0000), length: 64))])
    }
}
