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

    /// Receives packets until one with `operation` (included) arrives, or none comes for 10 s.
    mutating func receivePackets(until operation: VsockPacketHeader.Operation) throws -> [(VsockPacketHeader, [UInt8])] {
        var packets: [(VsockPacketHeader, [UInt8])] = []
        while !packets.contains(where: { $0.0.operation == operation }) {
            let more = try receivePackets(1)
            if more.isEmpty { break }
            packets += more
        }
        return packets
    }

    /// The packets delivered so far, without waiting (their buffers reposted).
    mutating func takePackets() throws -> [(VsockPacketHeader, [UInt8])] {
        var packets: [(VsockPacketHeader, [UInt8])] = []
        for entry in try receive.takeUsed() {
            let address = try #require(buffers[entry.head])
            let bytes = try driver.memory.readBytes(at: GuestAddress(address), count: Int(entry.length))
            packets.append((try #require(VsockPacketHeader(bytes: bytes)), Array(bytes[VsockPacketHeader.size...])))
            try repost(entry.head)
        }
        return packets
    }

    /// Connects a host client to the guest's port `port` (CONNECT, REQUEST, RESPONSE, OK line); returns the
    /// client's socket and the host port.
    mutating func hostConnection(toGuestPort port: UInt32) throws -> (client: Int32, hostPort: UInt32) {
        let client = connectUnix(path)
        writeSocket(client, "CONNECT \(port)\n")
        let request = try #require(try receivePackets(1).first?.0)
        #expect(request.operation == .request && request.destinationPort == port)
        try send(VsockGuest.packet(.response, from: port, to: request.sourcePort))
        let ok = "OK \(request.sourcePort)\n"
        #expect(String(decoding: readSocket(client, count: ok.utf8.count), as: UTF8.self) == ok)
        return (client, request.sourcePort)
    }

    /// Connects the guest's port `guestPort` to host port `port` (REQUEST, RESPONSE); returns the socket
    /// accepted at `PATH_<port>` (10 s receive timeout) and the listener, both for the caller to close.
    mutating func guestConnection(from guestPort: UInt32, to port: UInt32) throws -> (host: Int32, listener: Int32) {
        let listener = listenUnix("\(path)_\(port)")
        try send(VsockGuest.packet(.request, from: guestPort, to: port))
        #expect(try receivePackets(1).first?.0.operation == .response)
        let host = accept(listener, nil, nil)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(host, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return (host, listener)
    }

    /// Whether the device still has connection `guestPort`–`port`: a credit request gets a credit update
    /// if so, `RST` if not.
    mutating func hasConnection(from guestPort: UInt32, to port: UInt32) throws -> Bool {
        try send(VsockGuest.packet(.creditRequest, from: guestPort, to: port))
        let answer = try #require(try receivePackets(1).first?.0)
        #expect(answer.operation == .creditUpdate || answer.operation == .reset)
        return answer.operation == .creditUpdate
    }
}

/// Whether the next read of a blocking socket (with a receive timeout) is end of file, not data or a
/// timeout.
func isEndOfFile(_ fd: Int32) -> Bool {
    var byte: UInt8 = 0
    return recv(fd, &byte, 1, 0) == 0
}

/// The errno of writing a byte to `fd` (0 if it was written).
func writeError(_ fd: Int32) -> Int32 {
    var byte: UInt8 = 0x21
    return send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) == 1 ? 0 : errno
}

/// How many connected sockets bound to `path` exist (the lines of /proc/net/unix in state 03 with that
/// path): the device's end of each host client's connection to the attachment is one.
func connectedSockets(boundTo path: String) -> Int {
    let fd = open("/proc/net/unix", O_RDONLY)
    guard fd >= 0 else { return -1 }
    defer { close(fd) }
    var text: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        guard count > 0 else { break }
        text += buffer[0 ..< count]
    }
    return String(decoding: text, as: UTF8.self).split(separator: "\n").filter { line in
        let fields = line.split(separator: " ")
        return fields.count == 8 && fields[5] == "03" && fields[7] == path
    }.count
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

    @Test("A host client's CONNECT P reaches the guest's port P; OK <port>; data both ways; half-close sends SHUTDOWN(SEND)")
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
        #expect(end.first?.0.operation == .shutdown && end.first?.0.flags == 2)
    }

    // MARK: Shutdown and reset (virtio 1.2, 5.10.6.5: SHUTDOWN flags RCV = 1, SEND = 2)

    @Test("A host client that writes and half-closes gets the guest's reply, then end of file once the guest shuts down")
    func hostHalfClose() throws {
        var guest = try VsockGuest()
        let (client, hostPort) = try guest.hostConnection(toGuestPort: 52)
        defer { close(client) }
        #expect(connectedSockets(boundTo: guest.path) == 1)  // the device's end

        writeSocket(client, "request")
        shutdown(client, Int32(SHUT_WR))
        let packets = try guest.receivePackets(until: .shutdown)
        #expect(packets.map(\.0.operation) == [.readWrite, .shutdown])
        #expect(packets.first?.1 == Array("request".utf8))
        // SEND only: the host sends no more but still receives.
        #expect(packets.last?.0.flags == 2)
        #expect(packets.last?.0.sourcePort == hostPort && packets.last?.0.destinationPort == 52)

        try guest.send(VsockGuest.packet(.readWrite, from: 52, to: hostPort), Array("reply".utf8))
        #expect(readSocket(client, count: 5) == Array("reply".utf8))
        usleep(50_000)
        #expect(try guest.takePackets().isEmpty)  // no reset: the guest may still send
        #expect(connectedSockets(boundTo: guest.path) == 1)

        // The guest is done too: end of file for the host, RST for the guest, the socket closed.
        try guest.send(VsockGuest.packet(.shutdown, from: 52, to: hostPort, flags: 2))
        #expect(isEndOfFile(client))
        let end = try guest.receivePackets(1)
        #expect(end.map(\.0.operation) == [.reset])
        #expect(end.first?.0.sourcePort == hostPort && end.first?.0.destinationPort == 52)
        #expect(connectedSockets(boundTo: guest.path) == 0)
        #expect(try !guest.hasConnection(from: 52, to: hostPort))
    }

    @Test("A guest that half-closes: the host reads its data, then end of file, and can still answer")
    func guestHalfClose() throws {
        var guest = try VsockGuest()
        let (host, listener) = try guest.guestConnection(from: 6000, to: 80)
        defer { close(host); close(listener); unlink("\(guest.path)_80") }

        try guest.send(VsockGuest.packet(.readWrite, from: 6000, to: 80), Array("GET".utf8))
        try guest.send(VsockGuest.packet(.shutdown, from: 6000, to: 80, flags: 2))
        #expect(readSocket(host, count: 3) == Array("GET".utf8))
        #expect(isEndOfFile(host))

        writeSocket(host, "200 OK")
        let answer = try guest.receivePackets(1)
        #expect(answer.map(\.0.operation) == [.readWrite])
        #expect(answer.first?.1 == Array("200 OK".utf8))
        #expect(try guest.hasConnection(from: 6000, to: 80))

        // The host is done too: SHUTDOWN(SEND), then RST, and the connection is gone.
        shutdown(host, Int32(SHUT_WR))
        let end = try guest.receivePackets(until: .reset)
        #expect(end.map(\.0.operation) == [.shutdown, .reset])
        #expect(end.first?.0.flags == 2)
        #expect(try !guest.hasConnection(from: 6000, to: 80))
    }

    @Test("The guest's full shutdown (flags 3, or RCV then SEND) ends the connection with RST and closes the socket")
    func guestFullShutdown() throws {
        var guest = try VsockGuest()
        let (host, listener) = try guest.guestConnection(from: 7000, to: 81)
        defer { close(host); close(listener); unlink("\(guest.path)_81") }
        try guest.send(VsockGuest.packet(.readWrite, from: 7000, to: 81), Array("last words".utf8))
        try guest.send(VsockGuest.packet(.shutdown, from: 7000, to: 81, flags: 3))
        #expect(try guest.receivePackets(1).map(\.0.operation) == [.reset])
        #expect(readSocket(host, count: 100) == Array("last words".utf8))  // then end of file
        #expect(writeError(host) == EPIPE)  // the device's socket is closed, not only shut
        #expect(try !guest.hasConnection(from: 7000, to: 81))

        // RCV first: the socket is no longer read for the guest, which may still send.
        let (second, secondListener) = try guest.guestConnection(from: 7001, to: 82)
        defer { close(second); close(secondListener); unlink("\(guest.path)_82") }
        try guest.send(VsockGuest.packet(.shutdown, from: 7001, to: 82, flags: 1))
        writeSocket(second, "unwanted")
        usleep(50_000)
        #expect(try guest.takePackets().isEmpty)
        try guest.send(VsockGuest.packet(.readWrite, from: 7001, to: 82), Array("still".utf8))
        #expect(readSocket(second, count: 5) == Array("still".utf8))
        // Then SEND: both directions are over.
        try guest.send(VsockGuest.packet(.shutdown, from: 7001, to: 82, flags: 2))
        #expect(try guest.receivePackets(1).map(\.0.operation) == [.reset])
        // The device closed its socket with "unwanted" still unread, so the host sees a reset, not an end
        // of file (as with TCP).
        var byte: UInt8 = 0
        let count = recv(second, &byte, 1, 0)
        #expect(count == -1 && errno == ECONNRESET)
        #expect(writeError(second) == EPIPE)
        #expect(try !guest.hasConnection(from: 7001, to: 82))
    }

    @Test("Data the host socket has not taken yet is written before a full shutdown's RST")
    func fullShutdownFlushesFirst() throws {
        var guest = try VsockGuest()
        let (host, listener) = try guest.guestConnection(from: 7100, to: 83)
        defer { close(host); close(listener); unlink("\(guest.path)_83") }
        // 256 KiB (the credit the device gives), more than a Unix socket takes at once (wmem_default is
        // usually 208 KiB), while the host reads nothing.
        let data = (0 ..< 4 * 65536).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        for chunk in 0 ..< 4 {
            try guest.send(VsockGuest.packet(.readWrite, from: 7100, to: 83), Array(data[chunk * 65536 ..< (chunk + 1) * 65536]))
        }
        try guest.send(VsockGuest.packet(.shutdown, from: 7100, to: 83, flags: 3))
        usleep(50_000)
        let early = try guest.takePackets()
        #expect(!early.contains { $0.0.operation == .reset })  // not before the data is out
        let received = readSocket(host, count: data.count + 1)  // every byte, then end of file
        let intact = received == data
        #expect(intact, "the host read \(received.count) of \(data.count) bytes, \(intact ? "" : "not ")as sent")
        let late = try guest.receivePackets(until: .reset)
        #expect(late.last?.0.operation == .reset)
        #expect(!(early + late).contains { $0.0.operation != .reset && $0.0.operation != .creditUpdate })
        #expect(try !guest.hasConnection(from: 7100, to: 83))
    }

    @Test("A host that closes its socket altogether: its data, SHUTDOWN(SEND), then RST")
    func hostFullClose() throws {
        var guest = try VsockGuest()
        let (client, hostPort) = try guest.hostConnection(toGuestPort: 53)
        writeSocket(client, "bye")
        close(client)
        let packets = try guest.receivePackets(until: .reset)
        #expect(packets.map(\.0.operation) == [.readWrite, .shutdown, .reset])
        #expect(packets.first?.1 == Array("bye".utf8))
        #expect(packets.dropFirst().first?.0.flags == 2)
        #expect(connectedSockets(boundTo: guest.path) == 0)
        #expect(try !guest.hasConnection(from: 53, to: hostPort))
        usleep(50_000)
        #expect(try guest.takePackets().isEmpty)
        #expect(!guest.driver.status.contains(.deviceNeedsReset))
    }

    @Test("A host that closes while the guest gives no credit: its data, SHUTDOWN(SEND) and RST once credit comes")
    func hostCloseWithoutCredit() throws {
        var guest = try VsockGuest()
        let listener = listenUnix("\(guest.path)_86")
        defer { close(listener); unlink("\(guest.path)_86") }
        try guest.send(VsockGuest.packet(.request, from: 7400, to: 86, bufferAllocation: 0))
        #expect(try guest.receivePackets(1).first?.0.operation == .response)
        let host = accept(listener, nil, nil)
        writeSocket(host, "x")
        usleep(20_000)
        // Hung up while its data waits for credit (epoll reports the hang-up even to a paused watch: the
        // device stops watching rather than spin).
        close(host)
        usleep(50_000)
        #expect(try guest.takePackets().isEmpty)
        try guest.send(VsockGuest.packet(.creditUpdate, from: 7400, to: 86, bufferAllocation: 100))
        let packets = try guest.receivePackets(until: .reset)
        #expect(packets.map(\.0.operation) == [.readWrite, .shutdown, .reset])
        #expect(packets.first?.1 == Array("x".utf8))
        #expect(packets.dropFirst().first?.0.flags == 2)
        #expect(try !guest.hasConnection(from: 7400, to: 86))
    }

    @Test("A host socket that fails (ECONNRESET: closed with data unread) resets the connection at once")
    func hostSocketError() throws {
        var guest = try VsockGuest()
        let (host, listener) = try guest.guestConnection(from: 7200, to: 84)
        defer { close(listener); unlink("\(guest.path)_84") }
        try guest.send(VsockGuest.packet(.readWrite, from: 7200, to: 84), Array("never read".utf8))
        usleep(20_000)
        close(host)
        // No SHUTDOWN: the read fails, which is not an end of file.
        #expect(try guest.receivePackets(1).map(\.0.operation) == [.reset])
        #expect(try !guest.hasConnection(from: 7200, to: 84))
    }

    @Test("Shutdown flags from the guest are checked: unknown bits ignored, data after SEND and shutdown before the handshake reset")
    func hostileShutdowns() throws {
        var guest = try VsockGuest()
        let (host, listener) = try guest.guestConnection(from: 7300, to: 85)
        defer { close(host); close(listener); unlink("\(guest.path)_85") }
        // Flags 0 and unknown bits change nothing.
        try guest.send(VsockGuest.packet(.shutdown, from: 7300, to: 85, flags: 0))
        try guest.send(VsockGuest.packet(.shutdown, from: 7300, to: 85, flags: 0xFFFF_FFFC))
        try guest.send(VsockGuest.packet(.readWrite, from: 7300, to: 85), Array("ok".utf8))
        #expect(readSocket(host, count: 2) == Array("ok".utf8))
        writeSocket(host, "back")
        #expect(try guest.receivePackets(1).first?.1 == Array("back".utf8))
        // Data after its SEND shutdown breaks the guest's promise: RST.
        try guest.send(VsockGuest.packet(.shutdown, from: 7300, to: 85, flags: 2))
        #expect(isEndOfFile(host))
        try guest.send(VsockGuest.packet(.readWrite, from: 7300, to: 85), Array("more".utf8))
        #expect(try guest.receivePackets(1).map(\.0.operation) == [.reset])
        #expect(try !guest.hasConnection(from: 7300, to: 85))

        // A shutdown for a host connection the guest has not accepted: RST, and the client is closed.
        let client = connectUnix(guest.path)
        defer { close(client) }
        writeSocket(client, "CONNECT 54\n")
        let request = try #require(try guest.receivePackets(1).first?.0)
        try guest.send(VsockGuest.packet(.shutdown, from: 54, to: request.sourcePort, flags: 3))
        #expect(try guest.receivePackets(1).map(\.0.operation) == [.reset])
        #expect(readSocket(client, count: 1).isEmpty)
        #expect(!guest.driver.status.contains(.deviceNeedsReset))
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
