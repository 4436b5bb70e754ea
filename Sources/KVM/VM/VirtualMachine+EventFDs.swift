import KVMBindings

/// irqfd and ioeventfd: interrupts and doorbells that bypass user space.
extension VirtualMachine {
    /// `KVM_IRQFD` (needs `KVM_CAP_IRQFD` and an in-kernel irqchip): writing `eventfd` raises `gsi`.
    /// With `resample` (needs `KVM_CAP_IRQFD_RESAMPLE`) the line is level-triggered and `resample` is
    /// signalled when the guest acknowledges it. The caller keeps ownership of both eventfds.
    public func registerIRQFD(_ eventfd: EventFD, gsi: UInt32, resample: EventFD? = nil) throws(KVMRuntimeError) {
        try require(.irqfd)
        var request = KVMIRQFD()
        request.fd = UInt32(bitPattern: eventfd.rawValue)
        request.gsi = gsi
        if let resample {
            try require(.irqfdResample)
            request.flags = KVMIRQFDFlags.resample.rawValue
            request.resamplefd = UInt32(bitPattern: resample.rawValue)
        }
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.irqfd(request) }
    }

    /// `KVM_IRQFD` with a new eventfd the runtime creates; the VM keeps it alive until it is unregistered
    /// or the VM is released. Write to the returned eventfd to raise `gsi`.
    public func makeIRQFD(gsi: UInt32) throws(KVMRuntimeError) -> EventFD {
        let eventfd = try EventFD()
        try registerIRQFD(eventfd, gsi: gsi)
        retainEventFD(eventfd)
        return eventfd
    }

    /// `KVM_IRQFD` with `KVM_IRQFD_FLAG_DEASSIGN`.
    public func unregisterIRQFD(_ eventfd: EventFD, gsi: UInt32) throws(KVMRuntimeError) {
        var request = KVMIRQFD()
        request.fd = UInt32(bitPattern: eventfd.rawValue)
        request.gsi = gsi
        request.flags = KVMIRQFDFlags.deassign.rawValue
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.irqfd(request) }
        releaseEventFD(eventfd)
    }

    /// `KVM_IOEVENTFD` (needs `KVM_CAP_IOEVENTFD`): a guest write of `length` bytes (1, 2, 4 or 8; 0 for
    /// any length on MMIO) to `address` signals `eventfd` instead of exiting. With `datamatch`, only
    /// writes of that value do. The caller keeps ownership of the eventfd.
    public func registerIOEventFD(
        _ eventfd: EventFD, at address: IOAddress, length: UInt32, datamatch: UInt64? = nil
    ) throws(KVMRuntimeError) {
        try require(.ioeventfd)
        let request = Self.ioeventfdRequest(eventfd, at: address, length: length, datamatch: datamatch)
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.ioeventfd(request) }
    }

    /// `KVM_IOEVENTFD` with a new eventfd the runtime creates and keeps alive until unregistered.
    public func makeIOEventFD(at address: IOAddress, length: UInt32, datamatch: UInt64? = nil)
        throws(KVMRuntimeError) -> EventFD
    {
        let eventfd = try EventFD()
        try registerIOEventFD(eventfd, at: address, length: length, datamatch: datamatch)
        retainEventFD(eventfd)
        return eventfd
    }

    /// `KVM_IOEVENTFD` with `KVM_IOEVENTFD_FLAG_DEASSIGN`; the arguments must match the registration.
    public func unregisterIOEventFD(
        _ eventfd: EventFD, at address: IOAddress, length: UInt32, datamatch: UInt64? = nil
    ) throws(KVMRuntimeError) {
        var request = Self.ioeventfdRequest(eventfd, at: address, length: length, datamatch: datamatch)
        request.flags |= KVMIOEventFDFlags.deassign.rawValue
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.ioeventfd(request) }
        releaseEventFD(eventfd)
    }

    private static func ioeventfdRequest(
        _ eventfd: EventFD, at address: IOAddress, length: UInt32, datamatch: UInt64?
    ) -> KVMIOEventFD {
        var request = KVMIOEventFD()
        request.addr = address.rawAddress
        request.len = length
        request.fd = eventfd.rawValue
        var flags: KVMIOEventFDFlags = []
        if address.isPort { flags.insert(.pio) }
        if let datamatch {
            flags.insert(.datamatch)
            request.datamatch = datamatch
        }
        request.flags = flags.rawValue
        return request
    }
}

// MARK: Earlier spellings

/// Where an ioeventfd listens (replaced by ``IOAddress``, which carries the address with its space).
@available(*, deprecated, message: "use IOAddress (.port(_:) or .memory(_:))")
public enum IOEventSpace: Sendable, Hashable {
    /// Port I/O (`KVM_IOEVENTFD_FLAG_PIO`).
    case pio
    /// Memory-mapped I/O.
    case mmio
}

extension VirtualMachine {
    @available(*, deprecated, renamed: "registerIOEventFD(_:at:length:datamatch:)")
    public func registerIOEventFD(
        _ eventfd: EventFD, address: UInt64, length: UInt32, space: IOEventSpace, datamatch: UInt64? = nil
    ) throws(KVMRuntimeError) {
        try registerIOEventFD(eventfd, at: try IOAddress(address, space), length: length, datamatch: datamatch)
    }

    @available(*, deprecated, renamed: "makeIOEventFD(at:length:datamatch:)")
    public func makeIOEventFD(address: UInt64, length: UInt32, space: IOEventSpace, datamatch: UInt64? = nil)
        throws(KVMRuntimeError) -> EventFD
    {
        try makeIOEventFD(at: try IOAddress(address, space), length: length, datamatch: datamatch)
    }

    @available(*, deprecated, renamed: "unregisterIOEventFD(_:at:length:datamatch:)")
    public func unregisterIOEventFD(
        _ eventfd: EventFD, address: UInt64, length: UInt32, space: IOEventSpace, datamatch: UInt64? = nil
    ) throws(KVMRuntimeError) {
        try unregisterIOEventFD(eventfd, at: try IOAddress(address, space), length: length, datamatch: datamatch)
    }
}

extension IOAddress {
    @available(*, deprecated)
    init(_ address: UInt64, _ space: IOEventSpace) throws(KVMRuntimeError) {
        switch space {
        case .mmio:
            self = .memory(GuestAddress(address))
        case .pio:
            guard let port = UInt16(exactly: address) else {
                throw .invalidArgument(operation: "KVM_IOEVENTFD", reason: "port 0x\(String(address, radix: 16)) is above 0xffff")
            }
            self = .port(port)
        }
    }
}
