import SystemPackage

/// The kinds of file descriptor KVM ioctls are issued on.
public struct KVMFileDescriptorKinds: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `/dev/kvm`.
    @inlinable public static var system: KVMFileDescriptorKinds { KVMFileDescriptorKinds(rawValue: 1 << 0) }
    /// A VM, from `KVM_CREATE_VM`.
    @inlinable public static var vm: KVMFileDescriptorKinds { KVMFileDescriptorKinds(rawValue: 1 << 1) }
    /// A vCPU, from `KVM_CREATE_VCPU`.
    @inlinable public static var vcpu: KVMFileDescriptorKinds { KVMFileDescriptorKinds(rawValue: 1 << 2) }
    /// A device, from `KVM_CREATE_DEVICE`.
    @inlinable public static var device: KVMFileDescriptorKinds { KVMFileDescriptorKinds(rawValue: 1 << 3) }

    public var description: String {
        let names: [(KVMFileDescriptorKinds, String)] = [(.system, "system"), (.vm, "vm"), (.vcpu, "vcpu"), (.device, "device")]
        return names.filter { contains($0.0) }.map(\.1).joined(separator: ", ")
    }
}

/// Marks what a `KVMFileDescriptor` refers to, so that an ioctl for one kind of fd cannot be issued
/// on another: the typed ioctl wrappers exist only on the kinds their ioctl applies to.
public protocol KVMFileDescriptorKind: Sendable {
    static var kind: KVMFileDescriptorKinds { get }
}

/// `/dev/kvm`.
public enum KVMSystemKind: KVMFileDescriptorKind { public static var kind: KVMFileDescriptorKinds { .system } }
/// A VM file descriptor.
public enum KVMVMKind: KVMFileDescriptorKind { public static var kind: KVMFileDescriptorKinds { .vm } }
/// A vCPU file descriptor.
public enum KVMVCPUKind: KVMFileDescriptorKind { public static var kind: KVMFileDescriptorKinds { .vcpu } }
/// A device file descriptor.
public enum KVMDeviceKind: KVMFileDescriptorKind { public static var kind: KVMFileDescriptorKinds { .device } }

/// A file descriptor of a known KVM kind. It does not own the descriptor: whoever opened it closes it
/// (the `KVM` runtime's handles do so deterministically).
@frozen
public struct KVMFileDescriptor<Kind: KVMFileDescriptorKind>: Sendable, Hashable {
    public let fileDescriptor: FileDescriptor

    /// Wraps a descriptor the caller knows to be of this kind.
    @inlinable public init(_ fileDescriptor: FileDescriptor) { self.fileDescriptor = fileDescriptor }

    /// Wraps a raw descriptor number the caller knows to be of this kind.
    @inlinable public init(rawValue: CInt) { self.fileDescriptor = FileDescriptor(rawValue: rawValue) }

    @inlinable public var rawValue: CInt { fileDescriptor.rawValue }
}

/// `/dev/kvm`.
public typealias KVMSystemFD = KVMFileDescriptor<KVMSystemKind>
/// A VM, from `KVM_CREATE_VM`.
public typealias KVMVMFD = KVMFileDescriptor<KVMVMKind>
/// A vCPU, from `KVM_CREATE_VCPU`.
public typealias KVMVCPUFD = KVMFileDescriptor<KVMVCPUKind>
/// A device, from `KVM_CREATE_DEVICE`.
public typealias KVMDeviceFD = KVMFileDescriptor<KVMDeviceKind>
