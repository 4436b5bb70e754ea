import Glibc
import KVMBindings
import SystemPackage

/// A failed system call or KVM `ioctl`: which one, and the `errno` the kernel returned.
///
/// `KVMError` holds the facts of "the kernel said no". It names the operation that failed (an
/// ioctl such as `"KVM_CREATE_VM"` together with its request number, or a system call such as
/// `"mmap"`) and the ``errno`` value. The runtime throws it wrapped in
/// ``KVMRuntimeError/system(_:)``, whose ``KVMRuntimeError/errno`` and
/// ``KVMRuntimeError/operation`` read through to it.
public struct KVMError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error number the kernel (or libc) reported.
    public var errno: Errno

    /// The operation that failed: an ioctl's C name (`"KVM_RUN"`) or a system call (`"mmap"`).
    public var operation: String

    /// For a failed ioctl, its full request number (as `KVMIoctl.<name>.request` has it); `nil` for
    /// other system calls.
    public var request: UInt?

    /// Creates an error for a failed system call or library operation.
    ///
    /// - Parameters:
    ///   - operation: The name of the system call or operation, such as `"mmap"` or `"eventfd"`.
    ///   - errno: The error number it reported.
    public init(operation: String, errno: Errno) {
        self.operation = operation
        self.errno = errno
        self.request = nil
    }

    /// Creates an error for a failed `ioctl`, naming it and keeping its request number.
    ///
    /// - Parameters:
    ///   - ioctl: The request, such as `KVMIoctl.run` or `KVMIoctl.setSRegs`.
    ///   - errno: The error number the ioctl reported.
    public init(ioctl: some KVMIoctlDescriptor, errno: Errno) {
        self.operation = ioctl.name
        self.errno = errno
        self.request = ioctl.request
    }

    /// The same facts as a failed ioctl of the bindings (`KVMIoctlError`): name, request number, errno.
    ///
    /// - Parameter error: What a typed ioctl wrapper of `KVMBindings` threw.
    public init(_ error: KVMIoctlError) {
        self.operation = error.ioctl
        self.errno = error.errno
        self.request = error.request
    }

    /// Creates an error from the calling thread's current C `errno`.
    ///
    /// Call this immediately after the failing libc call, before anything else can
    /// overwrite `errno`.
    ///
    /// - Parameter operation: The name of the call that just failed.
    /// - Returns: An error carrying the thread's current `errno`.
    public static func fromCurrentErrno(operation: String) -> KVMError {
        KVMError(operation: operation, errno: Errno(rawValue: Glibc.errno))
    }

    /// Whether the operation was interrupted by a signal (`EINTR`).
    public var isInterrupted: Bool { errno == .interrupted }

    /// A message such as `KVM_SET_SREGS (0x4138ae84) failed: Invalid argument (errno 22)`.
    public var description: String {
        let name = request.map { "\(operation) (0x\(String($0, radix: 16)))" } ?? operation
        return "\(name) failed: \(errno.description) (errno \(errno.rawValue))"
    }
}
