import SystemPackage

/// A KVM ioctl failed: which one, and the `errno` the kernel returned.
public struct KVMIoctlError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The ioctl's C name, e.g. `KVM_CREATE_VM`.
    public let ioctl: String
    /// Its full request number.
    public let request: UInt
    public let errno: Errno

    public init(ioctl: String, request: UInt, errno: Errno) {
        self.ioctl = ioctl
        self.request = request
        self.errno = errno
    }

    public var description: String { "\(ioctl) failed: \(errno) (errno \(errno.rawValue))" }
}
