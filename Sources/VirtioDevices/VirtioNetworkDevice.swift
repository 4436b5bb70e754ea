import Glibc
import KVM
import Synchronization
import VirtioMMIO
import VirtioQueue

/// A 48-bit Ethernet MAC address.
public struct MACAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// From six bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// From `aa:bb:cc:dd:ee:ff`.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.count == 2, let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    /// A random locally administered unicast address (what a VMM picks when the user gives none).
    public static func randomLocallyAdministered() -> MACAddress {
        var bytes = (0 ..< 6).map { _ in UInt8.random(in: 0 ... 255) }
        bytes[0] = (bytes[0] & 0xFC) | 0x02
        return MACAddress(bytes: bytes)!
    }

    public var description: String { bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":") }
}

/// What the guest sees of a network device (virtio-net, device ID 1), and the TAP behind it.
public struct VirtioNetworkDeviceConfiguration: Sendable {
    public var attachment: TAPAttachment
    /// The MAC address the guest's interface gets (`VIRTIO_NET_F_MAC`).
    public var macAddress: MACAddress
    public var queueSize: UInt16

    public init(attachment: TAPAttachment, macAddress: MACAddress = .randomLocallyAdministered(), queueSize: UInt16 = 256) {
        self.attachment = attachment
        self.macAddress = macAddress
        self.queueSize = queueSize
    }
}

/// A virtio network device over a TAP interface: one receive and one transmit queue, the MAC address
/// and link status in the configuration space, no offloads (every frame is a plain Ethernet frame behind
/// a zero `virtio_net_hdr_v1`). Frames the TAP cannot take are dropped, as on a real link; frames that
/// arrive while the guest has posted no receive buffer wait (one frame; the TAP queues the rest).
public final class VirtioNetworkDevice: VirtioDevice {
    public let configuration: VirtioNetworkDeviceConfiguration
    private let state = Mutex(ReceiveState())

    static let receiveQueue = 0
    static let transmitQueue = 1
    /// `sizeof(struct virtio_net_hdr_v1)`.
    public static let headerSize = 12
    /// The largest frame plus header the device moves (64 KiB frames; no offloads make bigger ones).
    static let maximumFrame = 65_550

    private struct ReceiveState {
        var pending: [UInt8]?
        var token: Int?
        var paused = false
    }

    public enum Feature {
        public static let mac = VirtioFeatures(bit: 5)
        public static let status = VirtioFeatures(bit: 16)
    }

    public init(configuration: VirtioNetworkDeviceConfiguration) {
        self.configuration = configuration
    }

    public var deviceType: VirtioDeviceType { .network }
    public var offeredFeatures: VirtioFeatures { [Feature.mac, Feature.status] }
    public var queueMaximumSizes: [UInt16] { [configuration.queueSize, configuration.queueSize] }
    /// `mac[6]`, `status`, `max_virtqueue_pairs`.
    public var configurationSize: Int { 10 }

    public func readConfiguration(at offset: Int, count: Int) -> [UInt8] {
        let bytes = configuration.macAddress.bytes + [1, 0] + [1, 0]  // VIRTIO_NET_S_LINK_UP; one pair
        guard offset >= 0, offset + count <= bytes.count else { return [UInt8](repeating: 0, count: count) }
        return Array(bytes[offset ..< offset + count])
    }

    public func activate(_ context: VirtioDeviceContext) throws(VirtioDeviceError) {
        guard context.queues[Self.receiveQueue] != nil else { throw .queueNotEnabled(Self.receiveQueue) }
        guard context.queues[Self.transmitQueue] != nil else { throw .queueNotEnabled(Self.transmitQueue) }
        let token = try context.watch(configuration.attachment.fileDescriptor, events: .readable)
        state.withLock { $0 = ReceiveState(token: token) }
    }

    public func reset() {
        state.withLock { $0 = ReceiveState() }
    }

    public func queueNotified(_ index: Int, context: VirtioDeviceContext) {
        switch index {
        case Self.transmitQueue: transmit(context: context)
        case Self.receiveQueue: receive(context: context)
        default: break
        }
    }

    public func backendReady(_ token: Int, context: VirtioDeviceContext) {
        receive(context: context)
    }

    /// Sends each transmit chain (header + frame) to the TAP.
    private func transmit(context: VirtioDeviceContext) {
        let fd = configuration.attachment.fileDescriptor
        context.processQueue(Self.transmitQueue) { (chain) throws(VirtioDeviceError) -> UInt32 in
            guard chain.readableLength >= Self.headerSize, chain.readableLength <= Self.maximumFrame else {
                throw .malformedRequest("transmit chain of \(chain.readableLength) bytes")
            }
            var reader = chain.reader(in: context.memory)
            let packet: [UInt8]
            do { packet = try reader.read(upTo: reader.remaining) } catch { throw .malformedRequest("transmit: \(error)") }
            // The header we offer no offloads for must be zero but for num_buffers; send it to the TAP as is
            // (the kernel checks it too). A full TAP queue or a down link drops the frame.
            _ = packet.withUnsafeBytes { buffer in
                // SAFETY: writes the array's own bytes.
                unsafe Glibc.write(fd, buffer.baseAddress!, buffer.count)
            }
            return 0
        }
    }

    /// Moves frames from the TAP into receive buffers while both exist; pauses the TAP when the guest has
    /// no buffer.
    private func receive(context: VirtioDeviceContext) {
        let fd = configuration.attachment.fileDescriptor
        var delivered = false
        var frame = state.withLock { state -> [UInt8]? in
            let taken = state.pending
            state.pending = nil
            return taken
        }
        do throws(VirtioDeviceError) {
            while true {
                if frame == nil {
                    var buffer = [UInt8](repeating: 0, count: Self.maximumFrame)
                    // SAFETY: reads at most `buffer.count` bytes into the array's own storage.
                    let count = unsafe buffer.withUnsafeMutableBytes { unsafe Glibc.read(fd, $0.baseAddress!, $0.count) }
                    guard count >= Self.headerSize else {
                        if count < 0, errno == EINTR { continue }
                        break  // EAGAIN: nothing more; a runt or an error: nothing to deliver
                    }
                    buffer.removeSubrange(count...)
                    // num_buffers (bytes 10-11): 1, as the spec asks without VIRTIO_NET_F_MRG_RXBUF.
                    buffer[10] = 1
                    buffer[11] = 0
                    frame = buffer
                }
                guard let current = frame else { break }
                guard let chain = try context.withQueue(Self.receiveQueue, { (queue) throws(VirtqueueError) in try queue.popAvailable() })
                else { break }
                var writer = chain.writer(in: context.memory)
                var length: UInt32 = 0
                if writer.remaining >= current.count {
                    do { try writer.write(current) } catch { throw .malformedRequest("receive: \(error)") }
                    length = UInt32(current.count)
                }
                // A buffer too small for the frame is returned empty and the frame is dropped.
                try context.withQueue(Self.receiveQueue) { (queue) throws(VirtqueueError) in
                    try queue.addUsed(head: chain.head, length: length)
                }
                delivered = true
                frame = nil
            }
            if delivered { try context.signalUsedBuffers(queue: Self.receiveQueue) }
        } catch {
            context.markNeedsReset(error)
            return
        }
        let waiting = frame != nil
        let (token, wasPaused) = state.withLock { state -> (Int?, Bool) in
            state.pending = frame
            let wasPaused = state.paused
            state.paused = waiting
            return (state.token, wasPaused)
        }
        if let token, wasPaused != waiting {
            try? context.setWatch(token, events: waiting ? [] : .readable)
        }
    }
}
