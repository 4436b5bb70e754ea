import CVirtioShims
import Glibc
import KVM
import VirtioMMIO
import VirtioQueue
import SystemPackage

/// What the guest sees of an entropy device (virtio-rng, device ID 4): one request queue and nothing
/// else. Linux shows it as `/dev/hwrng`.
public struct VirtioEntropyDeviceConfiguration: Sendable, Hashable {
    /// The request queue's maximum size.
    public var queueSize: UInt16 = 256
    public init() {}
}

/// An entropy device that fills each writable buffer the driver posts with bytes from the host's
/// `getrandom(2)` (the kernel's CSPRNG; it blocks only before the host's pool is initialised).
public final class VirtioEntropyDevice: VirtioDevice {
    public let configuration: VirtioEntropyDeviceConfiguration

    /// The largest request served at once; longer chains get this many bytes (the driver asks again).
    public static let maximumRequest = 64 * 1024

    public init(configuration: VirtioEntropyDeviceConfiguration = .init()) {
        self.configuration = configuration
    }

    public var deviceType: VirtioDeviceType { .entropy }
    public var offeredFeatures: VirtioFeatures { [] }
    public var queueMaximumSizes: [UInt16] { [configuration.queueSize] }
    public var configurationSize: Int { 0 }
    public func readConfiguration(at offset: Int, count: Int) -> [UInt8] { [UInt8](repeating: 0, count: count) }
    public func activate(_ context: VirtioDeviceContext) throws(VirtioDeviceError) {
        guard context.queues[0] != nil else { throw .queueNotEnabled(0) }
    }
    public func reset() {}

    public func queueNotified(_ index: Int, context: VirtioDeviceContext) {
        context.processQueue(index) { (chain) throws(VirtioDeviceError) -> UInt32 in
            var writer = chain.writer(in: context.memory)
            let count = min(writer.remaining, Self.maximumRequest)
            guard count > 0 else { return 0 }
            let bytes = try Self.randomBytes(count)
            do { try writer.write(bytes) } catch { throw .malformedRequest("entropy buffer: \(error)") }
            return UInt32(writer.written)
        }
    }

    /// `count` bytes from getrandom(2), retried on EINTR and short reads.
    static func randomBytes(_ count: Int) throws(VirtioDeviceError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            // SAFETY: writes at most `count - filled` bytes into the array's storage from index `filled`.
            let got = unsafe bytes.withUnsafeMutableBytes { buffer in
                unsafe getrandom(buffer.baseAddress! + filled, count - filled, 0)
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw .system(operation: "getrandom", errno: Errno(rawValue: errno))
            }
            filled += got
        }
        return bytes
    }
}
