import KVMBindings
import SystemPackage

/// Every error the runtime throws: one type, whose cases say what a VMM can act on.
///
/// - A failed ioctl or system call is ``system(_:)``: a ``KVMError`` with the operation (the
///   ioctl's name and request number, or the system call's name) and the `errno` as a typed
///   `Errno`. ``errno``, ``operation`` and ``ioctlRequest`` read through to it, so a handler can
///   match on the cause without unwrapping:
///
///   ```swift
///   do {
///       try vcpu.setSpecialRegisters(state)
///   } catch where error.errno == .invalidArgument {
///       // KVM refused the state (error.operation == "KVM_SET_SREGS").
///   }
///   ```
///
/// - Conditions with a meaning of their own have their own cases: no `/dev/kvm`, no permission,
///   a wrong API version, a missing capability, a feature not enabled on this VM, an argument
///   the runtime refuses before asking the kernel, an MSR the kernel refused, no huge pages, a
///   file shorter than the bytes asked of it, guest memory errors.
///
/// No case stands in for another: an argument the runtime refuses is ``invalidArgument(operation:reason:)``,
/// never an invented `EINVAL`.
public enum KVMRuntimeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The KVM device node does not exist (`open` failed with `ENOENT`): KVM is not built
    /// into this kernel, its module is not loaded, or no virtualization support is exposed.
    case deviceMissing(path: String)

    /// The KVM device node exists but may not be opened (`EACCES` or `EPERM`): the user is
    /// typically not in the `kvm` group.
    case permissionDenied(path: String)

    /// `KVM_GET_API_VERSION` returned a version other than the one this runtime speaks.
    ///
    /// The stable KVM API has been version 12 since Linux 2.6.22.
    case apiVersionMismatch(expected: Int32, actual: Int32)

    /// `KVM_CHECK_EXTENSION` reported that a required capability is absent.
    ///
    /// - Parameters:
    ///   - rawValue: The capability's number (the value of the `KVM_CAP_*` constant).
    ///   - name: The capability's name, such as `"KVM_CAP_USER_MEMORY"`.
    case capabilityMissing(rawValue: Int32, name: String)

    /// The kernel has the capability, but this VM has not enabled it: for example mapping a dirty
    /// ring before `VirtualMachine.enableDirtyRing(bytes:)`.
    ///
    /// - Parameters:
    ///   - capability: The capability to enable first.
    ///   - operation: What needed it.
    case notEnabled(capability: KVMCapability, operation: String)

    /// The runtime refused an argument before asking the kernel (the kernel was not called).
    ///
    /// - Parameters:
    ///   - operation: The call that refused it, such as `"enableDirtyRing(bytes:)"`.
    ///   - reason: What is wrong with it.
    case invalidArgument(operation: String, reason: String)

    /// `KVM_SET_MSRS` stopped at this MSR: the kernel set the entries before it and refused it.
    case rejectedMSR(index: UInt32)

    /// Huge-page (hugetlbfs) memory was asked for and the host has too few free huge pages of
    /// that size (`/proc/sys/vm/nr_hugepages` or `/sys/kernel/mm/hugepages/hugepages-<size>kB`).
    ///
    /// - Parameters:
    ///   - pageSize: The huge-page size in bytes.
    ///   - needed: The huge pages the mapping needs.
    ///   - free: The free huge pages of that size, if the host reports them.
    case hugePagesUnavailable(pageSize: Int, needed: Int, free: Int?)

    /// Guest RAM larger than the host can ever give: the mapping asked for more than the host's
    /// RAM and swap together (`sysinfo`), so a guest touching all of it would get the VMM killed by
    /// the OOM killer rather than a typed error. A VMM that overcommits on purpose (ballooning,
    /// sparse guests) says so with ``MemoryBacking/allowsOvercommit``.
    ///
    /// - Parameters:
    ///   - requested: The mapping's size in bytes.
    ///   - available: The host's RAM plus swap in bytes.
    case hostMemoryExceeded(requested: Int, available: Int)

    /// A file has fewer bytes than were asked of it (nothing was copied).
    ///
    /// - Parameters:
    ///   - size: The file's size in bytes.
    ///   - needed: The end of the requested range (offset + count).
    case fileTooShort(size: Int64, needed: Int64)

    /// The kernel or libc answered in a way the runtime cannot use (a value out of range, a short
    /// transfer of a fixed-size record).
    case unexpectedResult(operation: String, reason: String)

    /// An access to guest memory, or a change to its layout, was rejected.
    case guestMemory(GuestMemoryError)

    /// A system call or ioctl failed: its name (and request number) and `errno`.
    case system(KVMError)

    /// Wraps a failed ioctl of the bindings as ``system(_:)``, keeping name, request number and errno.
    ///
    /// - Parameter error: What a typed ioctl wrapper of `KVMBindings` threw.
    public init(_ error: KVMIoctlError) {
        self = .system(KVMError(error))
    }

    /// The `errno` of a failed system call or ioctl (``system(_:)``); `nil` for the other cases.
    public var errno: Errno? {
        if case .system(let error) = self { return error.errno }
        return nil
    }

    /// The failed operation: the ioctl or system call of ``system(_:)``, or the operation the other
    /// cases name; `nil` for cases about the device node, the API version or guest memory.
    public var operation: String? {
        switch self {
        case .system(let error): return error.operation
        case .notEnabled(_, let operation), .invalidArgument(let operation, _), .unexpectedResult(let operation, _):
            return operation
        case .rejectedMSR: return "KVM_SET_MSRS"
        default: return nil
        }
    }

    /// The request number of a failed ioctl (``system(_:)``); `nil` otherwise.
    public var ioctlRequest: UInt? {
        if case .system(let error) = self { return error.request }
        return nil
    }

    /// The error for a missing capability.
    static func missing(_ capability: KVMCapability) -> KVMRuntimeError {
        .capabilityMissing(rawValue: capability.rawValue, name: capability.cName ?? capability.description)
    }

    /// Classifies a failure to open the KVM device node.
    ///
    /// `ENOENT` becomes ``deviceMissing(path:)``, `EACCES` and `EPERM` become
    /// ``permissionDenied(path:)``; any other error is wrapped as ``system(_:)``.
    ///
    /// - Parameters:
    ///   - path: The path that was opened, usually `/dev/kvm`.
    ///   - errno: The error number `open` reported.
    /// - Returns: The classified error.
    public static func openingDevice(at path: String, errno: Errno) -> KVMRuntimeError {
        switch errno {
        case .noSuchFileOrDirectory:
            return .deviceMissing(path: path)
        case .permissionDenied, .notPermitted:
            return .permissionDenied(path: path)
        default:
            return .system(KVMError(operation: "open(\(path))", errno: errno))
        }
    }

    /// A sentence describing the failure and, where there is one, the usual remedy.
    public var description: String {
        switch self {
        case .deviceMissing(let path):
            return "\(path) does not exist: KVM is unavailable on this host (is the kvm module loaded?)"
        case .permissionDenied(let path):
            return "permission denied opening \(path) (is the user in the kvm group?)"
        case .apiVersionMismatch(let expected, let actual):
            return "KVM API version mismatch: expected \(expected), kernel reports \(actual)"
        case .capabilityMissing(let rawValue, let name):
            return "required KVM capability \(name) (\(rawValue)) is not supported by this kernel"
        case .notEnabled(let capability, let operation):
            let name = capability.cName ?? capability.description
            return "\(operation): \(name) is not enabled on this VM (enable it first)"
        case .invalidArgument(let operation, let reason):
            return "\(operation): invalid argument: \(reason)"
        case .rejectedMSR(let index):
            return "KVM_SET_MSRS: the kernel refused MSR 0x\(String(index, radix: 16))"
        case .hugePagesUnavailable(let pageSize, let needed, let free):
            let available = free.map { "\($0) free" } ?? "none reported"
            return "\(needed) huge pages of \(pageSize / 1024) KiB needed, \(available)"
                + " (reserve them in /sys/kernel/mm/hugepages/hugepages-\(pageSize / 1024)kB/nr_hugepages)"
        case .hostMemoryExceeded(let requested, let available):
            return "guest RAM of \(requested >> 20) MiB exceeds the host's RAM and swap (\(available >> 20) MiB);"
                + " MemoryBacking.allowsOvercommit maps it anyway"
        case .fileTooShort(let size, let needed):
            return "the file has \(size) bytes, \(needed) were needed"
        case .unexpectedResult(let operation, let reason):
            return "\(operation): unexpected result: \(reason)"
        case .guestMemory(let error):
            return "guest memory: \(error)"
        case .system(let error):
            return error.description
        }
    }
}
