import KVM
import Synchronization
import VirtioQueue

/// What an activated device works with: guest memory, the negotiated features, its queues, its
/// interrupt, and the worker's wait set for backend descriptors.
///
/// The transport creates one when the driver sets `DRIVER_OK` and discards it on reset. It is passed
/// to the device's methods on the worker thread; a device must not keep it past the call.
public final class VirtioDeviceContext {
    /// The guest's memory, where the rings and every buffer live.
    public let memory: GuestMemory
    /// The features both sides agreed on.
    public let features: VirtioFeatures
    /// The queues, by index; nil for a queue the driver did not enable.
    public internal(set) var queues: [SplitVirtqueue?]
    /// Whether the device has been marked as needing a reset; the transport then stops calling it.
    public private(set) var needsReset = false

    let interrupt: VirtioInterruptState
    let epoll: Epoll
    let reportNeedsReset: (VirtioDeviceError) -> Void
    private(set) var watched: [Int: Int32] = [:]
    private var nextToken = 0

    /// The first epoll token used for backend descriptors (queue tokens are the queue indices).
    static let backendTokenBase: UInt64 = 1 << 32

    init(
        memory: GuestMemory, features: VirtioFeatures, queues: [SplitVirtqueue?], interrupt: VirtioInterruptState,
        epoll: Epoll, reportNeedsReset: @escaping (VirtioDeviceError) -> Void
    ) {
        self.memory = memory
        self.features = features
        self.queues = queues
        self.interrupt = interrupt
        self.epoll = epoll
        self.reportNeedsReset = reportNeedsReset
    }

    // MARK: Queues

    /// Runs `body` on queue `index`.
    ///
    /// - Throws: ``VirtioDeviceError/queueNotEnabled(_:)``, or ``VirtioDeviceError/queue(index:_:)`` with
    ///   what `body` threw.
    public func withQueue<R>(
        _ index: Int, _ body: (inout SplitVirtqueue) throws(VirtqueueError) -> R
    ) throws(VirtioDeviceError) -> R {
        guard queues.indices.contains(index), var queue = queues[index] else { throw .queueNotEnabled(index) }
        defer { queues[index] = queue }
        do { return try body(&queue) } catch { throw .queue(index: index, error) }
    }

    /// Serves every chain available on queue `index`: `handler` gets each chain and returns how many
    /// bytes it wrote into the chain's writable buffers; the chain then goes to the used ring. Notifications
    /// are suppressed while the loop runs, and the driver is interrupted at the end if it asked to be.
    ///
    /// A malformed chain, or a handler that throws, marks the device as needing a reset (and this returns).
    public func processQueue(_ index: Int, _ handler: (DescriptorChain) throws(VirtioDeviceError) -> UInt32) {
        guard !needsReset else { return }
        do throws(VirtioDeviceError) {
            var more = true
            while more {
                try withQueue(index) { (queue) throws(VirtqueueError) in try queue.disableNotifications() }
                while let chain = try withQueue(index, { (queue) throws(VirtqueueError) in try queue.popAvailable() }) {
                    let written = try handler(chain)
                    try withQueue(index) { (queue) throws(VirtqueueError) in try queue.addUsed(head: chain.head, length: written) }
                }
                more = try withQueue(index) { (queue) throws(VirtqueueError) in try queue.enableNotifications() }
            }
            try signalUsedBuffers(queue: index)
        } catch {
            markNeedsReset(error)
        }
    }

    /// Interrupts the driver for queue `index`'s new used entries, if it asked to be (event index or flags).
    public func signalUsedBuffers(queue index: Int) throws(VirtioDeviceError) {
        if try withQueue(index, { (queue) throws(VirtqueueError) in try queue.needsInterrupt() }) {
            interrupt.raise(VirtioInterruptState.usedBuffer)
        }
    }

    /// Tells the driver the configuration space changed (a new `ConfigGeneration`, then the interrupt).
    public func signalConfigurationChange() {
        interrupt.announceConfigurationChange()
    }

    /// Sets `DEVICE_NEEDS_RESET` and interrupts the driver (configuration change), after which the
    /// transport calls the device no more until the driver resets it.
    public func markNeedsReset(_ error: VirtioDeviceError) {
        guard !needsReset else { return }
        needsReset = true
        reportNeedsReset(error)
    }

    // MARK: Backend descriptors

    /// What to wait for on a backend descriptor.
    public struct WatchEvents: OptionSet, Sendable, Hashable {
        public var rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Readable (`EPOLLIN`).
        public static let readable = WatchEvents(rawValue: 0x001)
        /// Writable (`EPOLLOUT`).
        public static let writable = WatchEvents(rawValue: 0x004)
    }

    /// Watches `fd` on the worker: ``VirtioDevice/backendReady(_:context:)`` gets the returned token when
    /// it is ready. The device keeps owning `fd`; watching ends on reset.
    public func watch(_ fd: Int32, events: WatchEvents) throws(VirtioDeviceError) -> Int {
        let token = nextToken
        try epoll.add(fd, events: events.rawValue, token: Self.backendTokenBase + UInt64(token))
        nextToken += 1
        watched[token] = fd
        return token
    }

    /// Changes what a watched descriptor is waited for (empty: pause it, e.g. while there is no buffer to
    /// put its data in).
    ///
    /// epoll reports a hang-up or an error whatever the events, so even a paused descriptor that hangs up
    /// keeps making it ready; ``unwatch(_:)`` it then.
    public func setWatch(_ token: Int, events: WatchEvents) throws(VirtioDeviceError) {
        guard let fd = watched[token] else { return }
        try epoll.modify(fd, events: events.rawValue, token: Self.backendTokenBase + UInt64(token))
    }

    /// Stops watching the descriptor behind `token` for good (the device still owns it; call this before
    /// closing it). Unknown tokens are ignored.
    public func unwatch(_ token: Int) {
        guard let fd = watched.removeValue(forKey: token) else { return }
        epoll.remove(fd)
    }

    /// Stops watching every backend descriptor (on reset).
    func unwatchAll() {
        for fd in watched.values { epoll.remove(fd) }
        watched = [:]
    }
}
