import Glibc
import KVM
import Testing
import VirtioDevices
import VirtioMMIO
import VirtioQueue

/// The guest side of a vsock device for tests: receive buffers, packets sent and received.
struct VsockGuest {
    static let cid: UInt64 = 3
    var driver: MMIODriver
    var receive: VirtioDriverModel
    var transmit: VirtioDriverModel
    var buffers: [UInt16: UInt64] = [:]
    let path: String
    let attachment: VsockUnixSocketAttachment

    init() throws {
        path = "/tmp/virtio-vsock-test-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        attachment = try VsockUnixSocketAttachment(path: path)
        let device = VirtioVsockDevice(configuration: .init(attachment: attachment, guestCID: Self.cid))
        let (driver, models) = try MMIODriver.ready(device, queues: 3, size: 64)
        self.driver = driver
        receive = models[0]
        transmit = models[1]
        for _ in 0 ..< 32 {
            let address = try receive.allocate(4096)
            buffers[try receive.post([.init(address: address, length: 4096, writable: true)])] = address
        }
        driver.notify(0)

    }

    /// Reposts a receive buffer.
    mutating func repost(_ head: UInt16) throws {
        try receive.publish(head: head)
        driver.notify(0)
    }

    mutating func send(_ header: VsockPacketHeader, _ payload: [UInt8] = []) throws {
        var header = header
        header.length = UInt32(payload.count)
        let bytes = header.encoded + payload
        let address = try transmit.allocate(bytes.count, filledWith: bytes)
        try transmit.post([.init(address: address, length: UInt32(bytes.count), writable: false)])
        driver.notify(1)
        _ = try waitForUsed(&transmit, count: 1)
    }

    /// A packet from the guest's port to host port `port`.
    static func packet(_ operation: VsockPacketHeader.Operation, from guestPort: UInt32, to port: UInt32, flags: UInt32 = 0,
                       bufferAllocation: UInt32 = 65536, forwardCount: UInt32 = 0) -> VsockPacketHeader {
        VsockPacketHeader(
            sourceCID: cid, destinationCID: 2, sourcePort: guestPort, destinationPort: port, operation: operation, flags: flags,
            bufferAllocation: bufferAllocation, forwardCount: forwardCount)
    }

    /// Waits for the next `count` packets the device delivers, reposting their buffers.
    mutating func receivePackets(_ count: Int) throws -> [(VsockPacketHeader, [UInt8])] {
        var packets: [(VsockPacketHeader, [UInt8])] = []
        for entry in try waitForUsed(&receive, count: count) {
            let address = try #require(buffers[entry.head])
            let bytes = try driver.memory.readBytes(at: GuestAddress(address), count: Int(entry.length))
            let header = try #require(VsockPacketHeader(bytes: bytes))
            packets.append((header, Array(bytes[VsockPacketHeader.size...])))
            try repost(entry.head)
        }
        return packets
    }
}

/// Reads from a blocking socket until `count` bytes arrived or end of file.
func readSocket(_ fd: Int32, count: Int) -> [UInt8] {
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: count)
    while result.count < count {
        let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, count - result.count, 0) }
        if got < 0, errno == EINTR { continue }
        guard got > 0 else { break }
        result += buffer[0 ..< got]
    }
    return result
}

func writeSocket(_ fd: Int32, _ text: String) {
    _ = Array(text.utf8).withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
}

/// A blocking Unix socket connected to `path`, with a 10 s receive timeout.
func connectUnix(_ path: String) -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in for (index, byte) in path.utf8.enumerated() { raw[index] = byte } }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    precondition(result == 0, "connect failed: \(errno)")
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    return fd
}

/// A blocking listener at `path` (removed by the caller).
func listenUnix(_ path: String) -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in for (index, byte) in path.utf8.enumerated() { raw[index] = byte } }
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    listen(fd, 4)
    return fd
}

@Suite("virtio-vsock")
struct VirtioVsockDeviceTests {
    @Test("The guest CID is in the configuration space")
    func configuration() throws {
        let guest = try VsockGuest()
        #expect(guest.driver.transport.read(at: 0x100, size: 8) == 3)
        #expect(guest.driver.read(VirtioMMIORegister.deviceID) == 19)
    }

    @Test("A guest connection to CID 2 port P reaches PATH_P; data flows both ways; shutdown ends it with RST")
    func guestToHost() throws {
        var guest = try VsockGuest()
        let listener = listenUnix("\(guest.path)_1234")
        defer { close(listener); unlink("\(guest.path)_1234") }
        try guest.send(VsockGuest.packet(.request, from: 5000, to: 1234))
        let response = try guest.receivePackets(1)
        #expect(response.first?.0.operation == .response)
        #expect(response.first?.0.sourcePort == 1234 && response.first?.0.destinationPort == 5000)
        #expect(response.first?.0.destinationCID == 3 && response.first?.0.sourceCID == 2)
        let host = accept(listener, nil, nil)
        defer { close(host) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(host, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        try guest.send(VsockGuest.packet(.readWrite, from: 5000, to: 1234), Array("ping".utf8))
        #expect(readSocket(host, count: 4) == Array("ping".utf8))
        writeSocket(host, "pong")
        let data = try guest.receivePackets(1)
        #expect(data.first?.0.operation == .readWrite)
        #expect(data.first?.1 == Array("pong".utf8))
        #expect(data.first?.0.forwardCount == 4)  // the device forwarded the guest's 4 bytes

        try guest.send(VsockGuest.packet(.shutdown, from: 5000, to: 1234, flags: 3))
        #expect(try guest.receivePackets(1).first?.0.operation == .reset)
        #expect(readSocket(host, count: 1).isEmpty)  // end of file
    }

    @Test("A host client's CONNECT P reaches the guest's port P; OK <port>; data both ways; close sends SHUTDOWN")
    func hostToGuest() throws {
        var guest = try VsockGuest()
        let client = connectUnix(guest.path)
        defer { close(client) }
        writeSocket(client, "CONNECT 52\n")
        let request = try #require(try guest.receivePackets(1).first?.0)
        #expect(request.operation == .request && request.destinationPort == 52 && request.sourceCID == 2)
        let hostPort = request.sourcePort
        try guest.send(VsockGuest.packet(.response, from: 52, to: hostPort))
        #expect(String(decoding: readSocket(client, count: "OK \(hostPort)\n".utf8.count), as: UTF8.self) == "OK \(hostPort)\n")
        try guest.send(VsockGuest.packet(.readWrite, from: 52, to: hostPort), Array("hello".utf8))
        #expect(readSocket(client, count: 5) == Array("hello".utf8))
        writeSocket(client, "world")
        let data = try guest.receivePackets(1)
        #expect(data.first?.1 == Array("world".utf8) && data.first?.0.destinationPort == 52)
        shutdown(client, Int32(SHUT_WR))
        let end = try guest.receivePackets(1)
        #expect(end.first?.0.operation == .shutdown && end.first?.0.flags == 3)
    }

    @Test("The guest's credit limits what the host sends; a credit update releases the rest")
    func creditFlowControl() throws {
        var guest = try VsockGuest()
        let listener = listenUnix("\(guest.path)_7")
        defer { close(listener); unlink("\(guest.path)_7") }
        try guest.send(VsockGuest.packet(.request, from: 9, to: 7, bufferAllocation: 8))
        #expect(try guest.receivePackets(1).first?.0.operation == .response)
        let host = accept(listener, nil, nil)
        defer { close(host) }
        writeSocket(host, "0123456789abcdefghij")
        let first = try guest.receivePackets(1)
        #expect(first.first?.1 == Array("01234567".utf8))
        usleep(50_000)
        #expect(try guest.receive.takeUsed().isEmpty)  // no credit left
        try guest.send(VsockGuest.packet(.creditUpdate, from: 9, to: 7, bufferAllocation: 8, forwardCount: 8))
        #expect(try guest.receivePackets(1).first?.1 == Array("89abcdef".utf8))
    }

    @Test("Refused and unknown connections, and packets from the wrong CID, get RST")
    func resets() throws {
        var guest = try VsockGuest()
        try guest.send(VsockGuest.packet(.request, from: 1, to: 4444))  // nothing listens at PATH_4444
        #expect(try guest.receivePackets(1).first?.0.operation == .reset)
        try guest.send(VsockGuest.packet(.readWrite, from: 1, to: 4444), [1, 2, 3])  // no such connection
        #expect(try guest.receivePackets(1).first?.0.operation == .reset)
        var wrongCID = VsockGuest.packet(.request, from: 1, to: 4444)
        wrongCID.sourceCID = 7
        try guest.send(wrongCID)
        #expect(try guest.receivePackets(1).first?.0.operation == .reset)
        try guest.send(VsockGuest.packet(.reset, from: 1, to: 4444))  // a reset is never answered
        usleep(50_000)
        #expect(try guest.receive.takeUsed().isEmpty)
        #expect(!guest.driver.status.contains(.deviceNeedsReset))
    }

    @Test("A packet shorter than its header, or longer than its buffers claim, makes the device need a reset")
    func malformedPackets() throws {
        var guest = try VsockGuest()
        let address = try guest.transmit.allocate(20)
        try guest.transmit.post([.init(address: address, length: 20, writable: false)])
        guest.driver.notify(1)
        #expect(eventually { guest.driver.status.contains(.deviceNeedsReset) })

        var lying = try VsockGuest()
        var header = VsockGuest.packet(.readWrite, from: 1, to: 2)
        header.length = 1000
        let bytes = header.encoded + [1, 2, 3]
        let at = try lying.transmit.allocate(bytes.count, filledWith: bytes)
        try lying.transmit.post([.init(address: at, length: UInt32(bytes.count), writable: false)])
        lying.driver.notify(1)
        #expect(eventually { lying.driver.status.contains(.deviceNeedsReset) })
        #expect(lying.driver.errors.all == [.malformedRequest("vsock packet length 1000 exceeds its buffers")])
    }
}
