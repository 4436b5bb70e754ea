import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Which way an ioctl's argument travels, as the kernel really uses it (the header's `_IOC_DIR` is
/// wrong for a few; the generator keeps a reviewed table of those).
public enum KVMIoctlDirection: String, Sendable, Hashable {
    /// No data (the argument, if any, is a value).
    case none
    /// The kernel fills the argument.
    case read
    /// The kernel reads the argument.
    case write
    /// Both.
    case readWrite
}

/// What every ioctl descriptor knows about itself.
public struct KVMIoctlInfo: Sendable, Hashable {
    /// The full request number, as clang evaluated the header's macro.
    public let request: UInt
    /// The C name, e.g. `KVM_GET_REGS`.
    public let name: String
    /// The fd kinds it applies to.
    public let fileDescriptorKinds: KVMFileDescriptorKinds
    /// The real direction of its argument.
    public let direction: KVMIoctlDirection

    @inlinable
    public init(request: UInt, name: String, fileDescriptorKinds: KVMFileDescriptorKinds, direction: KVMIoctlDirection) {
        self.request = request
        self.name = name
        self.fileDescriptorKinds = fileDescriptorKinds
        self.direction = direction
    }
}

/// An ioctl descriptor: its `KVMIoctlInfo`, and a `perform` method that depends on its argument kind.
public protocol KVMIoctlDescriptor: Sendable {
    var info: KVMIoctlInfo { get }
}

extension KVMIoctlDescriptor {
    /// The full request number, as clang evaluated the header's macro.
    @inlinable public var request: UInt { info.request }
    /// The C name, e.g. `KVM_GET_REGS`.
    @inlinable public var name: String { info.name }
    /// The fd kinds it applies to.
    @inlinable public var fileDescriptorKinds: KVMFileDescriptorKinds { info.fileDescriptorKinds }
    /// The real direction of its argument.
    @inlinable public var direction: KVMIoctlDirection { info.direction }
}

/// The `ioctl(2)` shim every descriptor uses; maps failure to `KVMIoctlError`. Inlinable and
/// non-generic so that issuing an ioctl costs what it costs in C (the hot path is `KVM_RUN`).
@inlinable
func kvmIoctl(_ fd: FileDescriptor, request: UInt, name: String, _ argument: UnsafeMutableRawPointer?)
    throws(KVMIoctlError) -> CInt
{
    // SAFETY: `argument` is nil, an integer passed as a pointer-sized value, or points to memory the
    // caller keeps alive and sized for this request for the duration of the call.
    let result: CInt
    if let argument {
        result = ioctl(fd.rawValue, request, argument)
    } else {
        result = ioctl(fd.rawValue, request, 0)
    }
    guard result >= 0 else {
        throw KVMIoctlError(ioctl: name, request: request, errno: Errno(rawValue: errno))
    }
    return result
}

/// An ioctl whose third argument is absent or an integer passed by value.
public struct KVMValueIoctl: KVMIoctlDescriptor {
    public let info: KVMIoctlInfo

    @inlinable
    public init(request: UInt, name: String, fileDescriptorKinds: KVMFileDescriptorKinds, direction: KVMIoctlDirection) {
        info = KVMIoctlInfo(request: request, name: name, fileDescriptorKinds: fileDescriptorKinds, direction: direction)
    }

    /// Issues the ioctl on `fd` with `value` as its argument; returns the kernel's result.
    /// Does not check the fd's kind: the typed wrappers on `KVMFileDescriptor` do.
    @inlinable
    public func perform(on fd: FileDescriptor, value: UInt = 0) throws(KVMIoctlError) -> CInt {
        // The kernel receives the argument as an unsigned long; a pointer with the same bits is the same register.
        try kvmIoctl(fd, request: request, name: name, UnsafeMutableRawPointer(bitPattern: value))
    }
}

/// An ioctl whose argument is a pointer to a structure chosen by a sub-command (e.g. `KVM_MEMORY_ENCRYPT_OP`).
public struct KVMPointerIoctl: KVMIoctlDescriptor {
    public let info: KVMIoctlInfo

    @inlinable
    public init(request: UInt, name: String, fileDescriptorKinds: KVMFileDescriptorKinds, direction: KVMIoctlDirection) {
        info = KVMIoctlInfo(request: request, name: name, fileDescriptorKinds: fileDescriptorKinds, direction: direction)
    }

    /// Issues the ioctl with `argument`, which must point to the structure the sub-command expects.
    @inlinable
    public func perform(on fd: FileDescriptor, argument: UnsafeMutableRawPointer) throws(KVMIoctlError) -> CInt {
        try kvmIoctl(fd, request: request, name: name, argument)
    }
}

/// An ioctl whose argument is a pointer to an `Argument` (a mirror of a C type).
public struct KVMTypedIoctl<Argument: BitwiseCopyable>: KVMIoctlDescriptor {
    public let info: KVMIoctlInfo

    @inlinable
    public init(request: UInt, name: String, fileDescriptorKinds: KVMFileDescriptorKinds, direction: KVMIoctlDirection) {
        info = KVMIoctlInfo(request: request, name: name, fileDescriptorKinds: fileDescriptorKinds, direction: direction)
    }

    /// Issues the ioctl with the address of `argument`, which the kernel may read and write.
    @inlinable
    @discardableResult
    public func perform(on fd: FileDescriptor, argument: inout Argument) throws(KVMIoctlError) -> CInt {
        // SAFETY: `argument` is exclusively borrowed for the call and is exactly the C type the request encodes.
        try withUnsafeMutableBytes(of: &argument) { (bytes) throws(KVMIoctlError) -> CInt in
            try kvmIoctl(fd, request: request, name: name, bytes.baseAddress)
        }
    }

    /// Issues the ioctl with a zeroed argument the kernel fills, and returns it.
    @inlinable
    public func read(on fd: FileDescriptor) throws(KVMIoctlError) -> Argument where Argument: KVMRecord {
        var argument = Argument()
        try perform(on: fd, argument: &argument)
        return argument
    }
}

extension KVMTypedIoctl where Argument: KVMFlexibleArrayHeader {
    /// Issues the ioctl with a header followed by its flexible array (e.g. `kvm_msrs` and its entries).
    @inlinable
    @discardableResult
    public func perform(on fd: FileDescriptor, argument: inout KVMFlexibleArray<Argument>) throws(KVMIoctlError) -> CInt {
        try argument.withUnsafeMutableRawPointer { (pointer) throws(KVMIoctlError) -> CInt in
            try kvmIoctl(fd, request: request, name: name, pointer)
        }
    }
}
