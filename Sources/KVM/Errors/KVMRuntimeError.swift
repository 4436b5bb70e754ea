import SystemPackage

/// A condition that stops the runtime from using KVM, described in VMM terms.
///
/// Raw system-call failures are ``KVMError``s; this type names the failures a user of the
/// runtime is expected to act on (install KVM, fix permissions, use a newer kernel) and wraps
/// everything else, so that the VM layer can throw a single error type.
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

    /// An access to guest memory, or a change to its layout, was rejected.
    case guestMemory(GuestMemoryError)

    /// Any other failed system call or ioctl.
    case system(KVMError)

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
        case .guestMemory(let error):
            return "guest memory: \(error)"
        case .system(let error):
            return error.description
        }
    }
}
