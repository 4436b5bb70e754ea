import KVMBindings

/// An in-kernel device (`KVM_CREATE_DEVICE`), configured through attributes.
public final class KVMDevice: Sendable {
    public let vm: VirtualMachine
    let owned: OwnedFileDescriptor<KVMDeviceKind>

    /// The device fd, for ioctls this type does not wrap.
    public var fileDescriptor: KVMDeviceFD { owned.typed }

    init(vm: VirtualMachine, fileDescriptor: KVMDeviceFD) {
        self.vm = vm
        owned = OwnedFileDescriptor(fileDescriptor)
    }

    /// `KVM_HAS_DEVICE_ATTR`: whether the device has the attribute.
    public func hasAttribute(group: UInt32, attribute: UInt64) -> Bool {
        var request = KVMDeviceAttr()
        request.group = group
        request.attr = attribute
        return (try? fileDescriptor.hasDeviceAttr(request)) != nil
    }

    /// `KVM_GET_DEVICE_ATTR`: reads an attribute's 64-bit value.
    public func attribute(group: UInt32, attribute: UInt64) throws(KVMRuntimeError) -> UInt64 {
        var value: UInt64 = 0
        var failure: KVMIoctlError?
        withUnsafeMutableBytes(of: &value) { bytes in
            var request = KVMDeviceAttr()
            request.group = group
            request.attr = attribute
            // SAFETY: `addr` points at `value`, 8 bytes that outlive the ioctl.
            request.addr = UInt64(UInt(bitPattern: bytes.baseAddress))
            do throws(KVMIoctlError) { try fileDescriptor.getDeviceAttr(&request) } catch { failure = error }
        }
        if let failure { throw KVMRuntimeError(failure) }
        return value
    }

    /// `KVM_SET_DEVICE_ATTR`: writes an attribute's 64-bit value.
    public func setAttribute(group: UInt32, attribute: UInt64, value: UInt64) throws(KVMRuntimeError) {
        var value = value
        var failure: KVMIoctlError?
        withUnsafeMutableBytes(of: &value) { bytes in
            var request = KVMDeviceAttr()
            request.group = group
            request.attr = attribute
            // SAFETY: `addr` points at `value`, 8 bytes that outlive the ioctl.
            request.addr = UInt64(UInt(bitPattern: bytes.baseAddress))
            do throws(KVMIoctlError) { try fileDescriptor.setDeviceAttr(request) } catch { failure = error }
        }
        if let failure { throw KVMRuntimeError(failure) }
    }
}
