#if arch(x86_64)
import KVMBindings

/// The XSAVE image of a vCPU (`struct kvm_xsave`): the 512-byte legacy region (x87, MXCSR, XMM), the
/// XSAVE header and the extended components, laid out as the host's CPUID leaf 0xD says.
public struct XSaveArea: Sendable {
    /// The raw image, as `KVM_GET_XSAVE(2)` fills it and `KVM_SET_XSAVE` takes it.
    public var storage: KVMFlexibleArray<KVMXSave>

    /// Byte offsets in the legacy region and the header (Intel SDM vol. 1 §13.4).
    static let mxcsrWord = 24 / 4
    static let xstateBitVectorWord = 512 / 4
    /// XSTATE_BV bit 1: the SSE state (XMM registers and MXCSR) is not in its initial configuration.
    static let sseStateBit: UInt32 = 1 << 1

    /// MXCSR, the SSE control and status register (legacy region, offset 24).
    public var mxcsr: UInt32 {
        get { storage.header.region[Self.mxcsrWord] }
        set {
            var header = storage.header
            header.region[Self.mxcsrWord] = newValue
            // MXCSR is loaded only when XSTATE_BV says the SSE state is present (or with XRSTOR's
            // MXCSR-always rule on some CPUs); mark it so the kernel loads what was written.
            header.region[Self.xstateBitVectorWord] |= Self.sseStateBit
            storage.header = header
        }
    }
}

extension VCPU {
    /// The XSAVE image: `KVM_GET_XSAVE2` with the size `KVM_CAP_XSAVE2` reports where the kernel has it
    /// (images larger than 4 KiB, e.g. AMX), else `KVM_GET_XSAVE` (needs `KVM_CAP_XSAVE`).
    ///
    /// Unlike `fpu()`, this carries every component the guest uses, and on some hosts it is the only
    /// way to read MXCSR.
    public func xsave() throws(KVMRuntimeError) -> XSaveArea {
        let size = (try? vm.fileDescriptor.checkExtension(.xsave2)).map(Int.init) ?? 0
        let baseSize = MemoryLayout<KVMXSave>.size
        if size > baseSize {
            var storage = KVMFlexibleArray<KVMXSave>(capacity: (size - baseSize + 3) / 4)
            try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getXSave2(&storage) }
            return XSaveArea(storage: storage)
        }
        var storage = KVMFlexibleArray<KVMXSave>(capacity: 0)
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getXSave(&storage) }
        return XSaveArea(storage: storage)
    }

    /// `KVM_SET_XSAVE` (needs `KVM_CAP_XSAVE`): loads an image read by `xsave()`, possibly modified.
    public func setXSave(_ area: XSaveArea) throws(KVMRuntimeError) {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setXSave(area.storage) }
    }
}
#endif
