import KVMBindings
import SystemPackage

/// `/dev/kvm`: the entry point. Checks the API version, answers capability questions, lists what the
/// host's KVM supports, and creates VMs.
///
/// Sendable: every operation is an ioctl on the system fd, which the kernel serializes.
public final class KVMSystem: Sendable {
    /// The only KVM API version there has ever been.
    public static let expectedAPIVersion: Int32 = 12

    let owned: OwnedFileDescriptor<KVMSystemKind>
    /// The system fd, for ioctls this type does not wrap.
    public var fileDescriptor: KVMSystemFD { owned.typed }
    /// The size of each vCPU's shared `kvm_run` mapping (`KVM_GET_VCPU_MMAP_SIZE`).
    public let vcpuMmapSize: Int

    /// Opens `path` (normally `/dev/kvm`) and checks `KVM_GET_API_VERSION`.
    ///
    /// - Throws: `.deviceMissing` or `.permissionDenied` when it cannot be opened, `.apiVersionMismatch`
    ///   for a kernel that is not version 12, or the failed ioctl.
    public init(path: String = "/dev/kvm") throws(KVMRuntimeError) {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readWrite, options: [.closeOnExec])
        } catch let errno as Errno {
            throw KVMRuntimeError.openingDevice(at: path, errno: errno)
        } catch {
            throw KVMRuntimeError.openingDevice(at: path, errno: .ioError)
        }
        let owned = OwnedFileDescriptor(KVMSystemFD(fd))
        self.owned = owned
        let version = try ioctlCall { () throws(KVMIoctlError) in try owned.typed.getAPIVersion() }
        guard version == Self.expectedAPIVersion else {
            throw .apiVersionMismatch(expected: Self.expectedAPIVersion, actual: version)
        }
        vcpuMmapSize = Int(try ioctlCall { () throws(KVMIoctlError) in try owned.typed.getVCPUMmapSize() })
    }

    /// `KVM_CHECK_EXTENSION`: 0 when unsupported; otherwise 1 or a capability-specific number.
    public func checkExtension(_ capability: KVMCapability) throws(KVMRuntimeError) -> Int {
        Int(try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.checkExtension(capability) })
    }

    /// Whether `KVM_CHECK_EXTENSION` reports `capability` (false also when the query fails).
    public func supports(_ capability: KVMCapability) -> Bool {
        ((try? checkExtension(capability)) ?? 0) > 0
    }

    /// `KVM_CHECK_EXTENSION`, failing with `.capabilityMissing` when the answer is 0.
    @discardableResult
    public func require(_ capability: KVMCapability) throws(KVMRuntimeError) -> Int {
        let value = try checkExtension(capability)
        guard value > 0 else {
            throw .missing(capability)
        }
        return value
    }

    #if arch(x86_64)
    /// `KVM_GET_SUPPORTED_CPUID`: the CPUID leaves KVM can expose to a guest on this host.
    public func supportedCPUID() throws(KVMRuntimeError) -> CPUIDEntries {
        try CPUIDEntries.fetch(name: "KVM_GET_SUPPORTED_CPUID") { (buffer) throws(KVMIoctlError) in
            try fileDescriptor.getSupportedCPUID(&buffer)
        }
    }

    /// `KVM_GET_EMULATED_CPUID` (needs `KVM_CAP_EXT_EMUL_CPUID`): leaves KVM emulates.
    public func emulatedCPUID() throws(KVMRuntimeError) -> CPUIDEntries {
        try require(.extEmulCPUID)
        return try CPUIDEntries.fetch(name: "KVM_GET_EMULATED_CPUID") { (buffer) throws(KVMIoctlError) in
            try fileDescriptor.getEmulatedCPUID(&buffer)
        }
    }

    /// `KVM_GET_MSR_INDEX_LIST`: the MSRs `KVM_GET_MSRS`/`KVM_SET_MSRS` accept on a vCPU.
    public func msrIndexList() throws(KVMRuntimeError) -> [UInt32] {
        try MSRIndexList.fetch { (list) throws(KVMIoctlError) in try fileDescriptor.getMSRIndexList(&list) }
    }

    /// `KVM_GET_MSR_FEATURE_INDEX_LIST` (needs `KVM_CAP_GET_MSR_FEATURES`): the feature MSRs.
    public func featureMSRIndexList() throws(KVMRuntimeError) -> [UInt32] {
        try require(.getMSRFeatures)
        return try MSRIndexList.fetch { (list) throws(KVMIoctlError) in try fileDescriptor.getMSRFeatureIndexList(&list) }
    }

    /// `KVM_GET_MSRS` on `/dev/kvm` (needs `KVM_CAP_GET_MSR_FEATURES`): values of feature MSRs.
    public func featureMSRs(_ indices: [UInt32]) throws(KVMRuntimeError) -> [KVMMSREntry] {
        try require(.getMSRFeatures)
        var list = MSRList(indices: indices)
        let count = try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getMSRs(&list.buffer) }
        return Array(list.buffer.elements.prefix(Int(count)))
    }
    #endif

    /// `KVM_CREATE_VM`: a new VM. `machineType` is 0 for the default VM (on x86, `KVM_X86_DEFAULT_VM`;
    /// on arm64, the IPA size in bits 0-7, 0 meaning 40 bits).
    public func createVM(machineType: UInt = 0) throws(KVMRuntimeError) -> VirtualMachine {
        let fd = try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.createVM(machineType) }
        return VirtualMachine(system: self, fileDescriptor: fd)
    }
}
