import Glibc
import SystemPackage

/// A failed system call or KVM `ioctl`, with the `errno` the kernel returned.
///
/// `KVMError` is the one error type for "the kernel said no". It names the operation that
/// failed (an ioctl such as `"KVM_CREATE_VM"`, or a system call such as `"mmap"`) and the
/// ``errno`` value, so that callers can match on the cause:
///
/// ```swift
/// throw KVMError(ioctl: "KVM_RUN", errno: .interrupted)
///
/// do { try vcpu.run() } catch let error where error.errno == .interrupted { ... }
/// ```
///
/// Conditions that have a meaning of their own for a VMM (no `/dev/kvm`, a missing
/// capability, a wrong API version) are described by ``KVMRuntimeError`` instead.
public struct KVMError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error number the kernel (or libc) reported.
    public var errno: Errno

    /// The operation that failed: an ioctl name (`"KVM_RUN"`) or a system call (`"mmap"`).
    public var operation: String

    /// Creates an error for a failed system call or library operation.
    ///
    /// - Parameters:
    ///   - operation: The name of the system call or operation, such as `"mmap"` or `"eventfd"`.
    ///   - errno: The error number it reported.
    public init(operation: String, errno: Errno) {
        self.operation = operation
        self.errno = errno
    }

    /// Creates an error for a failed `ioctl`.
    ///
    /// - Parameters:
    ///   - ioctl: The request's name, such as `"KVM_RUN"` or `"KVM_SET_USER_MEMORY_REGION"`.
    ///   - errno: The error number the ioctl reported.
    public init(ioctl: String, errno: Errno) {
        self.init(operation: ioctl, errno: errno)
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

    /// Whether the operation was interrupted by a signal (`EINTR`), as `KVM_RUN` is when a
    /// vCPU thread is kicked.
    public var isInterrupted: Bool { errno == .interrupted }

    /// A message such as `KVM_RUN failed: Interrupted system call (errno 4)`.
    public var description: String {
        "\(operation) failed: \(errno.description) (errno \(errno.rawValue))"
    }
}
