import KVMBindings

/// Where a guest-virtual address lands under a vCPU's current paging (`KVM_TRANSLATE`).
public struct AddressTranslation: Sendable, Hashable {
    /// The guest-physical address.
    public let physicalAddress: GuestAddress
    /// `kvm_translation.writeable` as the kernel reports it. x86 KVM sets it to true whatever the
    /// page tables say (only `valid` and the address come from the walk); walk the tables to know.
    public let isWritable: Bool
    /// `kvm_translation.usermode` as the kernel reports it; x86 KVM always reports false.
    public let isUserAccessible: Bool
}

extension VCPU {
    /// `KVM_TRANSLATE`: translates `linearAddress` through the vCPU's current page tables (as set by
    /// `setSpecialRegisters` or left by the guest), for reading the instruction at RIP or a guest stack.
    ///
    /// - Returns: nil when the address is not mapped.
    /// - Throws: the ioctl's error; some architectures and KVM flavours do not implement it (`EINVAL`).
    public func translate(_ linearAddress: UInt64) throws(KVMRuntimeError) -> AddressTranslation? {
        var request = KVMTranslation()
        request.linearAddress = linearAddress
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.translate(&request) }
        guard request.valid != 0 else { return nil }
        return AddressTranslation(
            physicalAddress: GuestAddress(request.physicalAddress), isWritable: request.writeable != 0, isUserAccessible: request.usermode != 0)
    }
}
