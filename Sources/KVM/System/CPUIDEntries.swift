#if arch(x86_64)
import KVMBindings

/// A list of CPUID leaves (`struct kvm_cpuid2` and its entries), as `KVM_GET_SUPPORTED_CPUID` returns
/// them and `KVM_SET_CPUID2` takes them. Usable as a plain array of `KVMCPUIDEntry2`.
public struct CPUIDEntries: Sendable, RandomAccessCollection, MutableCollection {
    public var entries: [KVMCPUIDEntry2]

    public init(_ entries: [KVMCPUIDEntry2]) { self.entries = entries }

    public var startIndex: Int { entries.startIndex }
    public var endIndex: Int { entries.endIndex }
    public subscript(position: Int) -> KVMCPUIDEntry2 {
        get { entries[position] }
        set { entries[position] = newValue }
    }

    /// The entry for `function` (and `index`, for leaves with subleaves), if present.
    public func entry(function: UInt32, index: UInt32 = 0) -> KVMCPUIDEntry2? {
        entries.first { $0.function == function && $0.index == index }
    }

    /// The `struct kvm_cpuid2` buffer the kernel expects.
    public var buffer: KVMFlexibleArray<KVMCPUID2> { KVMFlexibleArray(elements: entries) }

    /// Runs a CPUID-listing ioctl, growing the buffer while the kernel answers E2BIG.
    static func fetch(
        name: String, _ call: (inout KVMFlexibleArray<KVMCPUID2>) throws(KVMIoctlError) -> Void
    ) throws(KVMRuntimeError) -> CPUIDEntries {
        var capacity = 128
        while true {
            var buffer = KVMFlexibleArray<KVMCPUID2>(capacity: capacity)
            do {
                try call(&buffer)
                return CPUIDEntries(buffer.elements)
            } catch where error.errno == .argListTooLong && capacity < 65536 {
                capacity *= 2
            } catch {
                throw KVMRuntimeError(error)
            }
        }
    }
}
#endif
