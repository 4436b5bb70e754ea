import KVM
import SystemPackage
import VirtioQueue

/// A virtio device's behaviour, independent of the transport that presents it: what the guest sees
/// (type, features, configuration space, queues) and what happens when the driver posts requests.
///
/// Implement this to write your own device; ``VirtioMMIOTransport`` presents it to the guest. The
/// transport negotiates features, builds and checks the queues, and runs a worker thread that calls the
/// device whenever a queue is notified or a watched backend descriptor becomes ready.
///
/// ## Threads
///
/// ``activate(_:)`` and ``reset()`` are called from the vCPU thread that wrote the status register;
/// ``queueNotified(_:context:)`` and ``backendReady(_:context:)`` on the device's worker thread. The
/// transport never runs two of these at once for one device, so a device needs no lock for state that
/// only these methods touch. ``readConfiguration(at:count:)`` and ``writeConfiguration(at:bytes:)`` run
/// on vCPU threads concurrently with everything else: guard what they share.
public protocol VirtioDevice: AnyObject, Sendable {
    /// The device ID the guest's driver binds to.
    var deviceType: VirtioDeviceType { get }
    /// The device-specific features offered (bits 0-23, plus any device-independent bit the device
    /// itself implements). The transport adds `VirtioFeatures/version1`,
    /// `VirtioFeatures/indirectDescriptors` and `VirtioFeatures/eventIndex`, which its queues handle.
    var offeredFeatures: VirtioFeatures { get }
    /// The largest size of each queue (each a power of two, at most 32768); the count is the number of queues.
    var queueMaximumSizes: [UInt16] { get }
    /// `count` bytes of the configuration space from `offset` (the transport bounds-checks against
    /// ``configurationSize``).
    func readConfiguration(at offset: Int, count: Int) -> [UInt8]
    /// A guest write to the configuration space (most devices ignore it).
    func writeConfiguration(at offset: Int, bytes: [UInt8])
    /// The size of the configuration space in bytes.
    var configurationSize: Int { get }
    /// The driver set `DRIVER_OK`: the queues in `context` are ready to use. Throwing marks the device
    /// as needing a reset.
    func activate(_ context: VirtioDeviceContext) throws(VirtioDeviceError)
    /// The driver notified queue `index` (or the transport asks the device to look at it, after activation).
    func queueNotified(_ index: Int, context: VirtioDeviceContext)
    /// A descriptor the device watches (``VirtioDeviceContext/watch(_:events:)``) is ready.
    func backendReady(_ token: Int, context: VirtioDeviceContext)
    /// The driver reset the device (status 0): forget every queue and request; keep the backend.
    func reset()
}

extension VirtioDevice {
    public func writeConfiguration(at offset: Int, bytes: [UInt8]) {}
    public func backendReady(_ token: Int, context: VirtioDeviceContext) {}
}

/// Why a device could not serve a request or activate.
public enum VirtioDeviceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A queue or chain was malformed.
    case queue(index: Int, VirtqueueError)
    /// A request's contents were malformed (too short a header, no room for a status byte...).
    case malformedRequest(String)
    /// The device needs a queue the driver did not enable.
    case queueNotEnabled(Int)
    /// A system call failed with `errno`.
    case system(operation: String, errno: Errno)

    public var description: String {
        switch self {
        case .queue(let index, let error): "queue \(index): \(error)"
        case .malformedRequest(let why): "malformed request: \(why)"
        case .queueNotEnabled(let index): "queue \(index) is not enabled"
        case .system(let operation, let errno): "\(operation) failed: \(errno) (errno \(errno.rawValue))"
        }
    }
}
