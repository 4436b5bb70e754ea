import CVirtioShims
import Glibc
import VirtioMMIO
import SystemPackage

/// What backs a network device: a Linux TAP interface, opened with the virtio-net header
/// (`IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`, 12-byte `virtio_net_hdr_v1`) so frames pass between the guest
/// and the host kernel unchanged.
///
/// The attachment owns the descriptor. Creating a TAP needs `CAP_NET_ADMIN`; attaching to an existing
/// persistent one (`ip tuntap add NAME mode tap user U`) does not. Configure the host side (addresses,
/// bridge, namespace) with the usual tools.
public final class TAPAttachment: Sendable {
    /// The TAP's file descriptor (non-blocking, owned: do not close it).
    public let fileDescriptor: Int32
    /// The interface's name (the kernel picks one when the requested name holds `%d`).
    public let interfaceName: String

    /// Opens (creating if needed) the TAP interface `name` (at most 15 bytes).
    ///
    /// - Throws: `VirtioDeviceError/system(operation:errno:)` naming the failing call.
    public init(name: String) throws(VirtioDeviceError) {
        var actualName = [CChar](repeating: 0, count: Int(IFNAMSIZ))
        var failedStep: UnsafePointer<CChar>? = nil
        // SAFETY: `name` is a NUL-terminated C string for the call; `actualName` has IFNAMSIZ bytes, what
        // the shim writes at most; `failedStep` receives a pointer to a static string literal.
        let result = unsafe cvirtio_open_tap(name, &actualName, &failedStep)
        guard result >= 0 else {
            // SAFETY: the shim set `failedStep` to one of its static string literals.
            let step = unsafe failedStep.map { unsafe String(cString: $0) } ?? "open TAP"
            throw .system(operation: "\(step) for \(name)", errno: Errno(rawValue: -result))
        }
        self.fileDescriptor = result
        self.interfaceName = String(decoding: actualName.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { close(fileDescriptor) }
}
