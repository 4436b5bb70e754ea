import Glibc
import KVM
import Synchronization
import VirtioMMIO
import VirtioQueue

/// What backs a console: where the guest's output goes, and where its input comes from.
public struct VirtioConsoleAttachment: Sendable {
    /// Receives each piece of output the guest writes to `hvc0`, on the device's worker thread.
    public var output: @Sendable ([UInt8]) -> Void
    /// A descriptor the guest's input is read from (a pipe, a terminal, a socket: anything epoll can
    /// watch; not a regular file), or nil for none. Not owned: keep it open while the device lives.
    public var inputFileDescriptor: Int32?

    public init(inputFileDescriptor: Int32? = nil, output: @escaping @Sendable ([UInt8]) -> Void) {
        self.inputFileDescriptor = inputFileDescriptor
        self.output = output
    }

    /// Output written to `outputFileDescriptor` (e.g. 1 for stdout), input from `inputFileDescriptor`.
    public static func fileDescriptors(input: Int32?, output: Int32) -> VirtioConsoleAttachment {
        VirtioConsoleAttachment(inputFileDescriptor: input) { bytes in
            var done = 0
            while done < bytes.count {
                // SAFETY: writes the array's remaining bytes from its own storage.
                let written = unsafe bytes.withUnsafeBytes { unsafe Glibc.write(output, $0.baseAddress! + done, bytes.count - done) }
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { return }
                done += written
            }
        }
    }
}

/// What the guest sees of a console (virtio-console, device ID 3): one port (`hvc0`) with its receive
/// and transmit queues, and the window size in the configuration space.
public struct VirtioConsoleDeviceConfiguration: Sendable {
    public var attachment: VirtioConsoleAttachment
    /// The size the configuration space reports (`cols`, `rows`).
    public var columns: UInt16
    public var rows: UInt16
    public var queueSize: UInt16

    public init(attachment: VirtioConsoleAttachment, columns: UInt16 = 80, rows: UInt16 = 25, queueSize: UInt16 = 256) {
        self.attachment = attachment
        self.columns = columns
        self.rows = rows
        self.queueSize = queueSize
    }
}

/// A single-port virtio console: `hvc0` in Linux (`console=hvc0`). Guest output goes to the
/// attachment's sink; input read from its descriptor fills the receive queue's buffers, and is held
/// (reading paused) while the guest has posted none.
public final class VirtioConsoleDevice: VirtioDevice {
    public let configuration: VirtioConsoleDeviceConfiguration
    private let state = Mutex(InputState())

    static let receiveQueue = 0
    static let transmitQueue = 1
    /// Input read from the descriptor at once.
    static let inputChunk = 4096

    private struct InputState {
        var pending: [UInt8] = []
        var token: Int?
        var paused = false
    }

    public init(configuration: VirtioConsoleDeviceConfiguration) {
        self.configuration = configuration
    }

    public var deviceType: VirtioDeviceType { .console }
    /// `VIRTIO_CONSOLE_F_SIZE` (bit 0): the configuration space's size is valid.
    public var offeredFeatures: VirtioFeatures { [VirtioFeatures(bit: 0)] }
    public var queueMaximumSizes: [UInt16] { [configuration.queueSize, configuration.queueSize] }
    /// `struct virtio_console_config`: cols, rows, max_nr_ports, emerg_wr.
    public var configurationSize: Int { 12 }

    public func readConfiguration(at offset: Int, count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        for value in [configuration.columns, configuration.rows] { bytes += [UInt8(value & 0xFF), UInt8(value >> 8)] }
        bytes += [1, 0, 0, 0, 0, 0, 0, 0]  // one port; emerg_wr reads 0
        guard offset >= 0, offset + count <= bytes.count else { return [UInt8](repeating: 0, count: count) }
        return Array(bytes[offset ..< offset + count])
    }

    /// `emerg_wr` (offset 8): the driver writes one character before the queues work.
    public func writeConfiguration(at offset: Int, bytes: [UInt8]) {
        if offset == 8, let character = bytes.first { configuration.attachment.output([character]) }
    }

    public func activate(_ context: VirtioDeviceContext) throws(VirtioDeviceError) {
        guard context.queues[Self.transmitQueue] != nil else { throw .queueNotEnabled(Self.transmitQueue) }
        if let fd = configuration.attachment.inputFileDescriptor {
            let token = try context.watch(fd, events: .readable)
            state.withLock { $0 = InputState(token: token) }
        }
    }

    public func reset() {
        state.withLock { $0 = InputState() }
    }

    public func queueNotified(_ index: Int, context: VirtioDeviceContext) {
        switch index {
        case Self.transmitQueue:
            let output = configuration.attachment.output
            context.processQueue(index) { (chain) throws(VirtioDeviceError) -> UInt32 in
                var reader = chain.reader(in: context.memory)
                do {
                    let bytes = try reader.read(upTo: reader.remaining)
                    if !bytes.isEmpty { output(bytes) }
                } catch {
                    throw .malformedRequest("console output: \(error)")
                }
                return 0
            }
        case Self.receiveQueue:
            deliverInput(context: context)
        default: break
        }
    }

    public func backendReady(_ token: Int, context: VirtioDeviceContext) {
        guard let fd = configuration.attachment.inputFileDescriptor else { return }
        var chunk = [UInt8](repeating: 0, count: Self.inputChunk)
        // SAFETY: reads at most `chunk.count` bytes into the array's own storage.
        let count = unsafe chunk.withUnsafeMutableBytes { unsafe Glibc.read(fd, $0.baseAddress!, $0.count) }
        if count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) {
            // End of input (or a broken descriptor): stop watching it.
            try? context.setWatch(token, events: [])
            return
        }
        guard count > 0 else { return }
        state.withLock { $0.pending += chunk[0 ..< count] }
        deliverInput(context: context)
    }

    /// Moves pending input into the receive queue's buffers; pauses reading while there is no buffer.
    private func deliverInput(context: VirtioDeviceContext) {
        guard context.queues[Self.receiveQueue] != nil else { return }
        var pending = state.withLock { state -> [UInt8] in
            let taken = state.pending
            state.pending = []
            return taken
        }
        var delivered = false
        do throws(VirtioDeviceError) {
            while !pending.isEmpty {
                guard let chain = try context.withQueue(Self.receiveQueue, { (queue) throws(VirtqueueError) in try queue.popAvailable() })
                else { break }
                var writer = chain.writer(in: context.memory)
                let count: Int
                do { count = try writer.write(pending) } catch { throw .malformedRequest("console input: \(error)") }
                pending.removeFirst(count)
                try context.withQueue(Self.receiveQueue) { (queue) throws(VirtqueueError) in
                    try queue.addUsed(head: chain.head, length: UInt32(count))
                }
                delivered = true
            }
            if delivered { try context.signalUsedBuffers(queue: Self.receiveQueue) }
        } catch {
            context.markNeedsReset(error)
            return
        }
        let hasBacklog = !pending.isEmpty
        let (token, wasPaused) = state.withLock { state -> (Int?, Bool) in
            state.pending = pending + state.pending
            let wasPaused = state.paused
            state.paused = hasBacklog
            return (state.token, wasPaused)
        }
        if let token, wasPaused != hasBacklog {
            try? context.setWatch(token, events: hasBacklog ? [] : .readable)
        }
    }
}
