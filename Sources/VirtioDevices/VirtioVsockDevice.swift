import Glibc
import KVM
import Synchronization
import VirtioMMIO
import VirtioQueue

/// What backs a vsock device: Unix-domain sockets, with Firecracker's convention.
///
/// - A guest connecting to the host (CID 2) on port P reaches the socket listening at `"\(path)_\(P)"`.
/// - A host program connects to the socket listening at `path` and writes `CONNECT P\n`; once the guest
///   accepts the connection on its port P, it reads `OK <host port>\n` and the stream is the connection.
///
/// The attachment listens at `path` from its creation (replacing a stale socket file there) and removes
/// the file when released.
public final class VsockUnixSocketAttachment: Sendable {
    public let path: String
    let listener: Int32

    /// Listens at `path`.
    ///
    /// - Parameter path: The socket path (at most 107 bytes); guest connections to port P go to `PATH_P`.
    /// - Throws: `VirtioDeviceError/system(operation:errno:)` if the path is too long, exists and is
    ///   not a socket, or cannot be bound.
    public init(path: String) throws(VirtioDeviceError) {
        self.path = path
        self.listener = try UnixSocket.listen(at: path)
    }

    deinit {
        close(listener)
        unlink(path)
    }
}

/// What the guest sees of a vsock device (virtio-vsock, device ID 19): its context ID.
public struct VirtioVsockDeviceConfiguration: Sendable {
    public var attachment: VsockUnixSocketAttachment
    /// The guest's CID (3 or more: 0-2 are reserved).
    public var guestCID: UInt64
    public var queueSize: UInt16

    public init(attachment: VsockUnixSocketAttachment, guestCID: UInt64, queueSize: UInt16 = 256) {
        precondition(guestCID >= 3 && guestCID <= UInt64(UInt32.max), "guest CIDs are 3...2^32-1")
        self.attachment = attachment
        self.guestCID = guestCID
        self.queueSize = queueSize
    }
}

/// A virtio vsock device whose host side is Unix-domain sockets (see ``VsockUnixSocketAttachment``): stream
/// connections in both directions, credit-based flow control in both directions, and a reset (`RST`) for
/// every packet that names no connection, every connection the host side refuses, and every peer that
/// breaks the protocol.
///
/// Each direction of a connection ends on its own (virtio 1.2, 5.10.6.5):
/// - The host socket's end of file (the host program shut its write side) becomes `SHUTDOWN` with
///   `VIRTIO_VSOCK_SHUTDOWN_SEND` only: the guest reads to its end of file and can still send, and what it
///   sends still reaches the socket.
/// - The guest's `SHUTDOWN` with `SEND` shuts the socket's write side (`shutdown(SHUT_WR)`) once what the
///   guest sent before it is written; with `RCV`, the socket is no longer read for the guest.
/// - Once both directions are over (end of file and the guest's `SEND`, or the guest's `RCV` and `SEND`),
///   the device sends `RST` and closes the socket. A socket that fails, or whose host program closed it
///   altogether, also ends the connection with `RST` once what it still holds has reached the guest (or
///   at once if the guest sends into it).
public final class VirtioVsockDevice: VirtioDevice {
    public let configuration: VirtioVsockDeviceConfiguration
    private let state = Mutex(VsockState())

    static let receiveQueue = 0
    static let transmitQueue = 1
    static let eventQueue = 2
    /// The host's CID.
    public static let hostCID: UInt64 = 2
    /// Our receive buffer per connection (what the guest may send before we forward it).
    static let bufferAllocation: UInt32 = 256 * 1024
    /// The largest payload accepted from the guest in one packet.
    static let maximumPayload: UInt32 = 64 * 1024
    /// The first port handed to host-initiated connections.
    static let firstLocalPort: UInt32 = 1 << 30
    /// `VIRTIO_VSOCK_SHUTDOWN_RCV`: the sender will receive no more.
    static let shutdownReceive: UInt32 = 1
    /// `VIRTIO_VSOCK_SHUTDOWN_SEND`: the sender will send no more.
    static let shutdownSend: UInt32 = 2

    public init(configuration: VirtioVsockDeviceConfiguration) {
        self.configuration = configuration
    }

    public var deviceType: VirtioDeviceType { .vsock }
    public var offeredFeatures: VirtioFeatures { [] }
    public var queueMaximumSizes: [UInt16] { [configuration.queueSize, configuration.queueSize, configuration.queueSize] }
    /// `guest_cid` (u64).
    public var configurationSize: Int { 8 }

    public func readConfiguration(at offset: Int, count: Int) -> [UInt8] {
        let bytes = withUnsafeBytes(of: configuration.guestCID.littleEndian, Array.init)
        guard offset >= 0, offset + count <= bytes.count else { return [UInt8](repeating: 0, count: count) }
        return Array(bytes[offset ..< offset + count])
    }

    public func activate(_ context: VirtioDeviceContext) throws(VirtioDeviceError) {
        guard context.queues[Self.receiveQueue] != nil, context.queues[Self.transmitQueue] != nil else {
            throw .queueNotEnabled(context.queues[Self.receiveQueue] == nil ? Self.receiveQueue : Self.transmitQueue)
        }
        let token = try context.watch(configuration.attachment.listener, events: .readable)
        state.withLock { $0 = VsockState(listenerToken: token) }
    }

    public func reset() {
        state.withLock { state in
            for connection in state.connections.values { close(connection.fd) }
            for client in state.clients.values { close(client.fd) }
            state = VsockState()
        }
    }

    public func queueNotified(_ index: Int, context: VirtioDeviceContext) {
        switch index {
        case Self.transmitQueue:
            context.processQueue(index) { (chain) throws(VirtioDeviceError) -> UInt32 in
                try self.handleGuestPacket(chain, context: context)
                return 0
            }
            pumpReceive(context: context)
        case Self.receiveQueue:
            pumpReceive(context: context)
        default:
            break  // The event queue carries only transport resets, which this device never sends.
        }
    }

    public func backendReady(_ token: Int, context: VirtioDeviceContext) {
        state.withLock { state in
            if token == state.listenerToken {
                while let fd = UnixSocket.accept(configuration.attachment.listener) {
                    guard let clientToken = try? context.watch(fd, events: .readable) else {
                        close(fd)
                        continue
                    }
                    state.clients[clientToken] = HostClient(fd: fd)
                }
            } else if state.clients[token] != nil {
                readConnectLine(token, state: &state, context: context)
            } else if let key = state.tokens[token], var connection = state.connections[key] {
                if !connection.hostHungUp, Self.hungUp(connection.fd) {
                    // The host closed its end (or both ends shut their write sides), or the socket failed:
                    // epoll would report that for ever, so stop watching. What the socket still holds is
                    // read without waiting, and a write now fails (which resets the connection).
                    connection.hostHungUp = true
                    context.unwatch(connection.token)
                }
                // Readable: let the pump read (and stop waiting until it has drained the socket).
                if connection.readsSocket { connection.hasData = true }
                // Writable: flush what the guest sent.
                guard flushToSocket(&connection) else {
                    closeConnection(key, state: &state, context: context, sendReset: true)
                    return
                }
                store(connection, key, state: &state, context: context)
            }
        }
        pumpReceive(context: context)
    }

    // MARK: State

    struct ConnectionKey: Hashable {
        /// The host side's port.
        var localPort: UInt32
        /// The guest side's port.
        var peerPort: UInt32
    }

    struct Connection {
        var fd: Int32
        var token: Int
        var established: Bool
        /// The guest's buffer size and consumed count (its credit to us).
        var peerBufferAllocation: UInt32 = 0
        var peerForwardCount: UInt32 = 0
        /// Bytes sent to the guest so far.
        var transmitCount: UInt32 = 0
        /// Bytes from the guest written to the socket so far, and the count the guest last heard.
        var forwardCount: UInt32 = 0
        var advertisedForwardCount: UInt32 = 0
        /// Bytes the socket has not taken yet: first `localPrefix` bytes of our own (the `OK` line), then
        /// guest data.
        var toSocket: [UInt8] = []
        var localPrefix = 0
        /// Host data to send the guest before reading the socket again.
        var toGuest: [UInt8] = []
        /// The socket is readable (and not watched for reading until drained).
        var hasData = false
        /// The socket reached end of file: the host sends no more (the guest got `SHUTDOWN` with `SEND`).
        var hostSendClosed = false
        /// The socket hung up or failed: it is no longer watched, and the host receives no more.
        var hostHungUp = false
        /// The guest will send no more: shut the socket's write side once `toSocket` is flushed.
        var guestSendClosed = false
        /// The socket's write side is shut (the guest's data all reached it).
        var socketWriteClosed = false
        /// The guest will receive no more: the socket is not read any more.
        var guestReceiveClosed = false

        /// What the guest lets us send now.
        var credit: UInt32 { peerBufferAllocation &- (transmitCount &- peerForwardCount) }
        /// Whether host data may still go to the guest.
        var readsSocket: Bool { established && !hostSendClosed && !guestReceiveClosed }
        /// Both directions are over: the connection ends (with `RST`).
        var isFinished: Bool {
            established && (hostSendClosed || guestReceiveClosed) && (socketWriteClosed || hostHungUp)
        }
    }

    struct HostClient {
        var fd: Int32
        var line: [UInt8] = []
    }

    struct VsockState {
        var listenerToken: Int?
        var connections: [ConnectionKey: Connection] = [:]
        var tokens: [Int: ConnectionKey] = [:]
        var clients: [Int: HostClient] = [:]
        /// Control packets (no payload) waiting for receive buffers.
        var control: [VsockPacketHeader] = []
        var nextLocalPort = VirtioVsockDevice.firstLocalPort
    }

    // MARK: Guest to host

    private func header(_ key: ConnectionKey, _ operation: VsockPacketHeader.Operation, flags: UInt32 = 0,
                        connection: Connection? = nil, length: UInt32 = 0) -> VsockPacketHeader {
        VsockPacketHeader(
            sourceCID: Self.hostCID, destinationCID: configuration.guestCID, sourcePort: key.localPort,
            destinationPort: key.peerPort, length: length, operation: operation, flags: flags,
            bufferAllocation: Self.bufferAllocation, forwardCount: connection?.forwardCount ?? 0)
    }

    private func handleGuestPacket(_ chain: DescriptorChain, context: VirtioDeviceContext) throws(VirtioDeviceError) {
        var reader = chain.reader(in: context.memory)
        let packet: VsockPacketHeader
        let payload: [UInt8]
        do {
            guard let bytes = try reader.read(exactly: VsockPacketHeader.size), let decoded = VsockPacketHeader(bytes: bytes) else {
                throw VirtioDeviceError.malformedRequest("vsock packet shorter than its 44-byte header")
            }
            guard decoded.length <= Self.maximumPayload, Int(decoded.length) <= reader.remaining else {
                throw VirtioDeviceError.malformedRequest("vsock packet length \(decoded.length) exceeds its buffers")
            }
            packet = decoded
            payload = try reader.read(upTo: Int(decoded.length))
        } catch let error as VirtioDeviceError {
            throw error
        } catch {
            throw .malformedRequest("vsock packet: \(error)")
        }
        let key = ConnectionKey(localPort: packet.destinationPort, peerPort: packet.sourcePort)
        state.withLock { state in
            // Anything not a stream packet from our guest to the host is refused.
            guard packet.sourceCID == configuration.guestCID, packet.destinationCID == Self.hostCID,
                packet.type == VsockPacketHeader.streamType
            else {
                if packet.operation != .reset { state.control.append(header(key, .reset)) }
                return
            }
            handle(packet, payload: payload, key: key, state: &state, context: context)
        }
    }

    private func handle(
        _ packet: VsockPacketHeader, payload: [UInt8], key: ConnectionKey, state: inout VsockState, context: VirtioDeviceContext
    ) {
        guard var connection = state.connections[key] else {
            if packet.operation == .request {
                openToHost(key, packet: packet, state: &state, context: context)
            } else if packet.operation != .reset {
                state.control.append(header(key, .reset))
            }
            return
        }
        connection.peerBufferAllocation = packet.bufferAllocation
        connection.peerForwardCount = packet.forwardCount
        var flushed = true
        switch packet.operation {
        case .response where !connection.established:
            connection.established = true
            // Tell the host client which port it got; then the stream is the connection.
            let reply = Array("OK \(key.localPort)\n".utf8)
            connection.toSocket = reply + connection.toSocket
            connection.localPrefix += reply.count
            flushed = flushToSocket(&connection)
        case .readWrite where connection.established && !connection.guestSendClosed:
            guard connection.toSocket.count - connection.localPrefix + payload.count <= Int(Self.bufferAllocation) else {
                // The guest sent beyond the credit we gave it.
                closeConnection(key, state: &state, context: context, sendReset: true)
                return
            }
            connection.toSocket += payload
            flushed = flushToSocket(&connection)
            if flushed, connection.forwardCount &- connection.advertisedForwardCount >= Self.bufferAllocation / 4 {
                connection.advertisedForwardCount = connection.forwardCount
                state.control.append(header(key, .creditUpdate, connection: connection))
            }
        case .creditUpdate:
            break  // Credit recorded above; the pump sends what it now allows.
        case .creditRequest:
            connection.advertisedForwardCount = connection.forwardCount
            state.control.append(header(key, .creditUpdate, connection: connection))
        case .shutdown where connection.established:
            // Each flag is a promise for good (flags only add up); unknown bits are ignored.
            if packet.flags & Self.shutdownReceive != 0, !connection.guestReceiveClosed {
                // The guest will receive no more: stop reading the socket, drop what was read for it.
                connection.guestReceiveClosed = true
                connection.hasData = false
                connection.toGuest = []
            }
            if packet.flags & Self.shutdownSend != 0 { connection.guestSendClosed = true }
            // Shuts the socket's write side if the guest's data is all written.
            flushed = flushToSocket(&connection)
        case .reset:
            closeConnection(key, state: &state, context: context, sendReset: false)
            return
        default:
            // A request for an existing connection, data before the handshake or after the guest's SEND
            // shutdown, a shutdown before the handshake, or an unknown operation.
            closeConnection(key, state: &state, context: context, sendReset: true)
            return
        }
        guard flushed else {
            // The socket failed (the host closed it): the guest's data cannot reach it.
            closeConnection(key, state: &state, context: context, sendReset: true)
            return
        }
        store(connection, key, state: &state, context: context)
    }

    /// Keeps `connection` and updates its watch, or ends it with `RST` when both directions are over.
    private func store(_ connection: Connection, _ key: ConnectionKey, state: inout VsockState, context: VirtioDeviceContext) {
        guard !connection.isFinished else {
            state.connections[key] = connection
            closeConnection(key, state: &state, context: context, sendReset: true)
            return
        }
        state.connections[key] = connection
        updateWatch(key, state: &state, context: context)
    }

    /// A guest's connection request to host port `key.localPort`: connect to `PATH_<port>`.
    private func openToHost(_ key: ConnectionKey, packet: VsockPacketHeader, state: inout VsockState, context: VirtioDeviceContext) {
        guard let fd = try? UnixSocket.connect(to: "\(configuration.attachment.path)_\(key.localPort)") else {
            state.control.append(header(key, .reset))
            return
        }
        guard let token = try? context.watch(fd, events: .readable) else {
            close(fd)
            state.control.append(header(key, .reset))
            return
        }
        var connection = Connection(fd: fd, token: token, established: true)
        connection.peerBufferAllocation = packet.bufferAllocation
        connection.peerForwardCount = packet.forwardCount
        state.connections[key] = connection
        state.tokens[token] = key
        state.control.append(header(key, .response, connection: connection))
    }

    /// Writes as much guest data as the socket takes; shuts its write side when the guest is done.
    ///
    /// - Returns: false if the socket failed (`EPIPE`: the host closed it), which ends the connection.
    private func flushToSocket(_ connection: inout Connection) -> Bool {
        while !connection.toSocket.isEmpty {
            let fd = connection.fd
            // SAFETY: writes from the array's own storage, at most its count.
            let written = unsafe connection.toSocket.withUnsafeBytes { unsafe send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                let error = errno
                if error == EINTR { continue }
                if error == EAGAIN || error == EWOULDBLOCK { break }
                return false
            }
            guard written > 0 else { break }
            connection.toSocket.removeFirst(written)
            // Only guest payload counts towards the credit the guest sees.
            let own = min(connection.localPrefix, written)
            connection.localPrefix -= own
            connection.forwardCount &+= UInt32(written - own)
        }
        if connection.guestSendClosed, connection.toSocket.isEmpty, !connection.socketWriteClosed {
            shutdown(connection.fd, Int32(SHUT_WR))
            connection.socketWriteClosed = true
        }
        return true
    }

    /// Whether the socket hung up or has an error pending (poll without waiting).
    private static func hungUp(_ fd: Int32) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN | POLLOUT), revents: 0)
        guard poll(&descriptor, 1, 0) == 1 else { return false }
        return descriptor.revents & Int16(POLLHUP | POLLERR) != 0
    }

    private func updateWatch(_ key: ConnectionKey, state: inout VsockState, context: VirtioDeviceContext) {
        guard let connection = state.connections[key], !connection.hostHungUp else { return }
        var events: VirtioDeviceContext.WatchEvents = []
        if !connection.hasData, connection.readsSocket { events.insert(.readable) }
        if !connection.toSocket.isEmpty { events.insert(.writable) }
        try? context.setWatch(connection.token, events: events)
    }

    /// Drops the connection: its watch, its socket (closed) and its state; queues `RST` for the guest if
    /// `sendReset`.
    private func closeConnection(_ key: ConnectionKey, state: inout VsockState, context: VirtioDeviceContext, sendReset: Bool) {
        if let connection = state.connections.removeValue(forKey: key) {
            context.unwatch(connection.token)
            state.tokens[connection.token] = nil
            close(connection.fd)
        }
        if sendReset { state.control.append(header(key, .reset)) }
    }

    // MARK: Host clients (CONNECT P)

    private func readConnectLine(_ token: Int, state: inout VsockState, context: VirtioDeviceContext) {
        guard var client = state.clients[token] else { return }
        var chunk = [UInt8](repeating: 0, count: 64)
        // SAFETY: reads at most `chunk.count` bytes into the array's own storage.
        let count = unsafe chunk.withUnsafeMutableBytes { unsafe recv(client.fd, $0.baseAddress!, $0.count, 0) }
        if count < 0, errno == EAGAIN || errno == EINTR { return }
        guard count > 0 else {
            dropClient(token, state: &state, context: context)
            return
        }
        client.line += chunk[0 ..< count]
        guard let newline = client.line.firstIndex(of: UInt8(ascii: "\n")) else {
            if client.line.count > 32 { dropClient(token, state: &state, context: context) } else { state.clients[token] = client }
            return
        }
        let text = String(decoding: client.line[..<newline], as: UTF8.self)
        let parts = text.split(separator: " ")
        guard parts.count == 2, parts[0] == "CONNECT", let port = UInt32(parts[1]) else {
            dropClient(token, state: &state, context: context)
            return
        }
        state.clients[token] = nil
        var localPort = state.nextLocalPort
        while state.connections.keys.contains(where: { $0.localPort == localPort }) { localPort &+= 1 }
        state.nextLocalPort = localPort &+ 1 < Self.firstLocalPort ? Self.firstLocalPort : localPort &+ 1
        let key = ConnectionKey(localPort: localPort, peerPort: port)
        var connection = Connection(fd: client.fd, token: token, established: false)
        connection.toGuest = Array(client.line[(newline + 1)...])
        state.connections[key] = connection
        state.tokens[token] = key
        state.control.append(header(key, .request, connection: connection))
        updateWatch(key, state: &state, context: context)
    }

    private func dropClient(_ token: Int, state: inout VsockState, context: VirtioDeviceContext) {
        guard let client = state.clients.removeValue(forKey: token) else { return }
        context.unwatch(token)
        close(client.fd)
    }

    // MARK: Host to guest

    /// Fills receive buffers: control packets first, then data from connections with credit (and again
    /// control packets, for the resets of connections that ended meanwhile).
    private func pumpReceive(context: VirtioDeviceContext) {
        var delivered = false
        do throws(VirtioDeviceError) {
            try state.withLock { (state) throws(VirtioDeviceError) in
                while true {
                    while !state.control.isEmpty {
                        guard let chain = try popReceive(context) else { return }
                        let packet = state.control.removeFirst()
                        try deliver(packet, payload: [], chain: chain, context: context)
                        delivered = true
                    }
                    for key in Array(state.connections.keys) {
                        guard try pumpConnection(key, state: &state, context: context, delivered: &delivered) else { return }
                    }
                    // Connections that ended queued their resets; anything else waits for the next call.
                    if state.control.isEmpty { return }
                }
            }
            if delivered { try context.signalUsedBuffers(queue: Self.receiveQueue) }
        } catch {
            context.markNeedsReset(error)
        }
    }

    /// Sends the guest what connection `key` has for it, as far as its credit and the receive buffers go.
    ///
    /// - Returns: false if the receive queue ran out of buffers.
    private func pumpConnection(_ key: ConnectionKey, state: inout VsockState, context: VirtioDeviceContext, delivered: inout Bool)
        throws(VirtioDeviceError) -> Bool
    {
        while var connection = state.connections[key], connection.readsSocket,
            connection.hasData || !connection.toGuest.isEmpty, connection.credit > 0
        {
            guard let chain = try popReceive(context) else { return false }
            let room = min(chain.writableLength - VsockPacketHeader.size, Int(connection.credit), Int(Self.maximumPayload))
            guard room > 0 else {
                throw .malformedRequest("vsock receive buffer of \(chain.writableLength) bytes has no room for a header")
            }
            var payload = Array(connection.toGuest.prefix(room))
            connection.toGuest.removeFirst(payload.count)
            if payload.isEmpty {
                var buffer = [UInt8](repeating: 0, count: room)
                let fd = connection.fd
                // SAFETY: reads at most `room` bytes into the array's own storage.
                let count = unsafe buffer.withUnsafeMutableBytes { unsafe recv(fd, $0.baseAddress!, $0.count, 0) }
                let error = errno
                if count > 0 {
                    payload = Array(buffer[0 ..< count])
                } else if count == 0 {
                    // End of file: the host sends no more (it may still read). Tell the guest it gets no
                    // more, but may still send.
                    connection.hostSendClosed = true
                    connection.hasData = false
                    try deliver(
                        header(key, .shutdown, flags: Self.shutdownSend, connection: connection), payload: [], chain: chain, context: context)
                    delivered = true
                    store(connection, key, state: &state, context: context)
                    return true
                } else if error == EINTR {
                    // Interrupted: give the buffer back and read again.
                    try context.withQueue(Self.receiveQueue) { (queue) throws(VirtqueueError) in queue.rewindAvailable() }
                    continue
                } else if error == EAGAIN || error == EWOULDBLOCK {
                    // Drained: give the buffer back and wait for the socket again.
                    try context.withQueue(Self.receiveQueue) { (queue) throws(VirtqueueError) in queue.rewindAvailable() }
                    connection.hasData = false
                    state.connections[key] = connection
                    updateWatch(key, state: &state, context: context)
                    return true
                } else {
                    // The socket failed (ECONNRESET: the host closed it unread): reset the connection.
                    try deliver(header(key, .reset), payload: [], chain: chain, context: context)
                    delivered = true
                    closeConnection(key, state: &state, context: context, sendReset: false)
                    return true
                }
            }
            connection.transmitCount &+= UInt32(payload.count)
            connection.advertisedForwardCount = connection.forwardCount
            state.connections[key] = connection
            try deliver(
                header(key, .readWrite, connection: connection, length: UInt32(payload.count)), payload: payload,
                chain: chain, context: context)
            delivered = true
        }
        if let connection = state.connections[key], connection.credit == 0, connection.hasData {
            // Out of credit: wait for the guest's credit update before reading further.
            updateWatch(key, state: &state, context: context)
        }
        return true
    }

    private func popReceive(_ context: VirtioDeviceContext) throws(VirtioDeviceError) -> DescriptorChain? {
        try context.withQueue(Self.receiveQueue) { (queue) throws(VirtqueueError) in try queue.popAvailable() }
    }

    private func deliver(_ packet: VsockPacketHeader, payload: [UInt8], chain: DescriptorChain, context: VirtioDeviceContext)
        throws(VirtioDeviceError)
    {
        var writer = chain.writer(in: context.memory)
        guard writer.remaining >= VsockPacketHeader.size + payload.count else {
            throw .malformedRequest("vsock receive buffer of \(writer.remaining) bytes is too small")
        }
        do { try writer.write(packet.encoded + payload) } catch { throw .malformedRequest("vsock receive: \(error)") }
        let written = UInt32(writer.written)
        try context.withQueue(Self.receiveQueue) { (queue) throws(VirtqueueError) in try queue.addUsed(head: chain.head, length: written) }
    }
}
