import Glibc
import KVMBindings
import Synchronization

/// A dirty page the dirty ring reported: which slot, and the page's index in it.
public struct DirtyPage: Sendable, Hashable {
    public let slot: UInt32
    public let pageIndex: UInt64
}

/// A vCPU's dirty-log ring (`KVM_CAP_DIRTY_LOG_RING`): KVM pushes each page the vCPU dirties into a ring
/// shared with user space, instead of (or beside) the per-slot bitmap. rust-vmm does not wrap this.
///
/// Enable it on the VM before creating vCPUs (`VirtualMachine.enableDirtyRing(bytes:)`), map it per vCPU
/// (`VCPU.dirtyRing()`), harvest with `harvest()`, then call `VirtualMachine.resetDirtyRings()`.
public final class DirtyRing {
    let entries: UnsafeMutableRawPointer
    let byteCount: Int
    let capacity: Int
    /// Index of the next entry to harvest (free-running, modulo `capacity`).
    private var next: Int = 0

    init(vcpu: VCPU, byteCount: Int) throws(KVMRuntimeError) {
        self.byteCount = byteCount
        capacity = byteCount / MemoryLayout<KVMDirtyGFN>.size
        let offset = off_t(KVMConstants.dirtyLogPageOffset) * off_t(hostPageSize)
        // SAFETY: maps the vCPU's dirty ring as api.rst documents (shared, read-write, at
        // KVM_DIRTY_LOG_PAGE_OFFSET pages); checked before use, unmapped in deinit.
        let address = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu.fileDescriptor.rawValue, offset)
        guard let address, address != MAP_FAILED else {
            throw .system(KVMError.fromCurrentErrno(operation: "mmap(dirty ring)"))
        }
        entries = address
    }

    deinit {
        // SAFETY: unmaps exactly the mapping made in init.
        munmap(entries, byteCount)
    }

    /// Collects the entries KVM has published since the last harvest and marks them for reset.
    public func harvest() -> [DirtyPage] {
        var pages: [DirtyPage] = []
        let stride = MemoryLayout<KVMDirtyGFN>.size
        while true {
            let offset = (next % capacity) * stride
            // SAFETY: `offset` is inside the ring. The acquire fence orders the flags read before the
            // slot/offset reads, pairing with the kernel's release when it publishes an entry.
            let flags = KVMDirtyGFNFlags(rawValue: entries.load(fromByteOffset: offset, as: UInt32.self))
            guard flags.contains(.dirty) else { break }
            atomicMemoryFence(ordering: .acquiring)
            let entry = entries.load(fromByteOffset: offset, as: KVMDirtyGFN.self)
            pages.append(DirtyPage(slot: entry.slot, pageIndex: entry.offset))
            // Hand the entry back: the release fence orders our reads before the flag update KVM reads.
            atomicMemoryFence(ordering: .releasing)
            entries.storeBytes(of: KVMDirtyGFNFlags.reset.rawValue, toByteOffset: offset, as: UInt32.self)
            next += 1
        }
        return pages
    }
}

extension VirtualMachine {
    /// `KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING)`: a dirty ring of `bytes` per vCPU (a power of two, at
    /// least a page, at most what `KVM_CHECK_EXTENSION` reports). Call before creating vCPUs.
    public func enableDirtyRing(bytes: UInt32) throws(KVMRuntimeError) {
        let maximum = try require(.dirtyLogRing)
        guard bytes.nonzeroBitCount == 1, Int(bytes) <= maximum, Int(bytes) >= hostPageSize else {
            throw .invalidArgument(
                operation: "enableDirtyRing(bytes:)",
                reason: "\(bytes) is not a power of two between the page size (\(hostPageSize)) and the kernel's maximum (\(maximum))")
        }
        try enableCapability(.dirtyLogRing, arguments: [UInt64(bytes)])
        dirtyRingBytes.store(Int(bytes), ordering: .sequentiallyConsistent)
    }

    /// `KVM_RESET_DIRTY_RINGS`: lets KVM reuse the entries harvested from every vCPU's ring and
    /// re-protects their pages. Returns how many entries were reset.
    @discardableResult
    public func resetDirtyRings() throws(KVMRuntimeError) -> Int {
        Int(try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.resetDirtyRings() })
    }
}

extension VCPU {
    /// Maps this vCPU's dirty ring (after `VirtualMachine.enableDirtyRing(bytes:)`).
    public func dirtyRing() throws(KVMRuntimeError) -> DirtyRing {
        let bytes = vm.dirtyRingBytes.load(ordering: .sequentiallyConsistent)
        guard bytes > 0 else {
            throw .notEnabled(capability: .dirtyLogRing, operation: "dirtyRing()")
        }
        return try DirtyRing(vcpu: self, byteCount: bytes)
    }
}
