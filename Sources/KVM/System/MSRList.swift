#if arch(x86_64)
import KVMBindings

/// `struct kvm_msrs` with its entries, for `KVM_GET_MSRS` / `KVM_SET_MSRS`.
struct MSRList {
    var buffer: KVMFlexibleArray<KVMMSRs>

    init(indices: [UInt32]) {
        buffer = KVMFlexibleArray(elements: indices.map { index in
            var entry = KVMMSREntry()
            entry.index = index
            return entry
        })
    }

    init(entries: [KVMMSREntry]) { buffer = KVMFlexibleArray(elements: entries) }
}

/// Fetches an MSR index list: asks for the count first (the kernel answers E2BIG with `nmsrs` set),
/// then fetches that many.
enum MSRIndexList {
    static func fetch(_ call: (inout KVMFlexibleArray<KVMMSRList>) throws(KVMIoctlError) -> Void)
        throws(KVMRuntimeError) -> [UInt32]
    {
        var probe = KVMFlexibleArray<KVMMSRList>(capacity: 0)
        do {
            try call(&probe)
            return []
        } catch where error.errno == .argListTooLong {
            // The kernel wrote the needed count into nmsrs.
        } catch {
            throw KVMRuntimeError(error)
        }
        var list = KVMFlexibleArray<KVMMSRList>(capacity: Int(probe.header.nmsrs))
        do {
            try call(&list)
        } catch {
            throw KVMRuntimeError(error)
        }
        return list.elements
    }
}
#endif
