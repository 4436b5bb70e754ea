import CKVMShims
import Glibc
import SystemPackage

/// An owned Linux eventfd: a kernel-side 64-bit counter behind a file descriptor.
///
/// KVM uses eventfds to connect devices without a trip through the VMM: `KVM_IRQFD` injects an
/// interrupt when an eventfd is written, and `KVM_IOEVENTFD` writes an eventfd when the guest
/// touches an I/O port or MMIO address. The descriptor is created with `EFD_CLOEXEC` and
/// closed when the object is deinitialized; the kernel keeps its own reference for as long as
/// KVM uses it.
///
/// All operations are thread-safe (the kernel serializes them), so one instance may be shared.
public final class EventFD: Sendable {
    /// Options for ``init(initialValue:options:)``. `EFD_CLOEXEC` is always set.
    public struct Options: OptionSet, Sendable, Hashable {
        /// The flags as they are passed to `eventfd(2)`.
        public let rawValue: Int32

        /// Creates options from `eventfd(2)` flags.
        ///
        /// - Parameter rawValue: The flags.
        public init(rawValue: Int32) {
            self.rawValue = rawValue
        }

        /// `EFD_NONBLOCK`: reading a zero counter fails with `EAGAIN` instead of blocking
        /// (``tryRead()`` returns `nil`), and a write that would overflow fails likewise.
        public static let nonBlocking = Options(rawValue: O_NONBLOCK)

        /// `EFD_SEMAPHORE`: each read returns 1 and decrements the counter by 1, instead of
        /// returning the whole counter and resetting it.
        public static let semaphore = Options(rawValue: 1)
    }

    /// The largest value the counter can hold: `2^64 - 2`.
    public static let maximumValue: UInt64 = UInt64.max - 1

    /// The descriptor number, for passing to ioctls such as `KVM_IRQFD`.
    public let rawValue: Int32

    /// Creates an eventfd.
    ///
    /// - Parameters:
    ///   - initialValue: The counter's starting value.
    ///   - options: Creation flags in addition to `EFD_CLOEXEC`.
    /// - Throws: ``KVMRuntimeError/system(_:)`` with operation `"eventfd"`, such as `EMFILE` when
    ///   out of descriptors.
    public init(initialValue: UInt32 = 0, options: Options = []) throws(KVMRuntimeError) {
        // glibc's eventfd, called directly (linked like any libc function, so it works in a fully
        // static executable); it takes two integers and touches no memory of ours. EFD_CLOEXEC has
        // the value of O_CLOEXEC.
        let descriptor = ckvm_eventfd(initialValue, options.rawValue | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .system(KVMError.fromCurrentErrno(operation: "eventfd"))
        }
        self.rawValue = descriptor
    }

    deinit {
        // The descriptor is owned by this object and closed exactly once; close on Linux
        // releases it even when it reports EINTR, so the result is not retried or checked.
        _ = close(rawValue)
    }

    /// The descriptor as a swift-system `FileDescriptor` (still owned by this object: do not
    /// close it).
    public var fileDescriptor: FileDescriptor { FileDescriptor(rawValue: rawValue) }

    /// Adds `value` to the counter, waking any reader.
    ///
    /// Retries if interrupted by a signal.
    ///
    /// - Parameter value: The amount to add; at most ``maximumValue``.
    /// - Throws: ``KVMRuntimeError/system(_:)`` with operation `"eventfd_write"`: `EINVAL` if
    ///   `value` is `UInt64.max`, `EAGAIN` if the counter would overflow and the eventfd is
    ///   non-blocking.
    public func write(_ value: UInt64 = 1) throws(KVMRuntimeError) {
        var value = value
        while true {
            // SAFETY: writes the 8 bytes of a local UInt64, the exact size eventfd requires.
            let written = unsafe Glibc.write(rawValue, &value, MemoryLayout<UInt64>.size)
            if written == MemoryLayout<UInt64>.size { return }
            let error = KVMError.fromCurrentErrno(operation: "eventfd_write")
            if written < 0, error.errno == .interrupted { continue }
            guard written < 0 else {
                throw .unexpectedResult(operation: "eventfd_write", reason: "wrote \(written) of 8 bytes")
            }
            throw .system(error)
        }
    }

    /// Reads the counter and resets it to zero (or, with ``Options/semaphore``, returns 1 and
    /// decrements it), blocking while it is zero unless the eventfd is non-blocking.
    ///
    /// Retries if interrupted by a signal.
    ///
    /// - Returns: The counter's value (at least 1).
    /// - Throws: ``KVMRuntimeError/system(_:)`` with operation `"eventfd_read"`; `EAGAIN` if the
    ///   eventfd is non-blocking and the counter is zero.
    public func read() throws(KVMRuntimeError) -> UInt64 {
        var value: UInt64 = 0
        while true {
            // SAFETY: reads at most 8 bytes into a local UInt64, the exact size eventfd returns.
            let count = unsafe Glibc.read(rawValue, &value, MemoryLayout<UInt64>.size)
            if count == MemoryLayout<UInt64>.size { return value }
            let error = KVMError.fromCurrentErrno(operation: "eventfd_read")
            if count < 0, error.errno == .interrupted { continue }
            guard count < 0 else {
                throw .unexpectedResult(operation: "eventfd_read", reason: "read \(count) of 8 bytes")
            }
            throw .system(error)
        }
    }

    /// Reads the counter if it is non-zero, without blocking. Meant for non-blocking eventfds.
    ///
    /// - Returns: The value ``read()`` would return, or `nil` if the counter is zero.
    /// - Throws: ``KVMRuntimeError/system(_:)`` with operation `"eventfd_read"` for errors other
    ///   than `EAGAIN`.
    public func tryRead() throws(KVMRuntimeError) -> UInt64? {
        do {
            return try read()
        } catch where error.errno == .resourceTemporarilyUnavailable || error.errno == .wouldBlock {
            return nil
        }
    }
}
