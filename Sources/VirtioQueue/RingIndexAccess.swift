import KVM
import Synchronization

/// Acquire loads and release stores of the 16-bit ring indices and flags that the driver and the device
/// exchange, and the full fence event-index suppression needs.
///
/// Why `Synchronization.Atomic` through a pointer: the index lives in guest memory (an `mmap`ed region
/// the guest's vCPUs write concurrently), not in a Swift variable, so it cannot be declared as an
/// `Atomic`. `Atomic<UInt16>` is documented to have the size and alignment of `UInt16` and no other
/// state, so a `UInt16` in memory can be viewed as one through a pointer, and `load(ordering:)` /
/// `store(_:ordering:)` then compile to single 16-bit accesses with the requested ordering (on x86-64 a
/// plain `mov` plus a compiler barrier; on arm64 `ldarh`/`stlrh`). This avoids adding a package
/// dependency (swift-atomics' `UnsafeAtomic` does the same thing) and, unlike a plain load, the compiler
/// may neither tear nor repeat the access nor move the descriptor reads above it.
enum RingIndexAccess {
    /// Loads the `UInt16` at `address` with acquire ordering: the descriptor and ring entries the driver
    /// published before it are visible after it.
    static func loadAcquiring(_ memory: GuestMemory, at address: GuestAddress) throws(VirtqueueError) -> UInt16 {
        try withAtomic(memory, at: address) { $0.pointee.load(ordering: .acquiring) }
    }

    /// Stores `value` at `address` with release ordering: the used-ring entries written before it are
    /// visible to the driver no later than the index.
    static func storeReleasing(_ value: UInt16, _ memory: GuestMemory, at address: GuestAddress) throws(VirtqueueError) {
        try withAtomic(memory, at: address) { $0.pointee.store(value, ordering: .releasing) }
    }

    /// A full (sequentially consistent) fence: orders the device's store of an index before its load of
    /// the driver's suppression field (and the reverse), the `virtio_mb()` of the spec's algorithms.
    static func fullFence() {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
    }

    private static func withAtomic<R>(
        _ memory: GuestMemory, at address: GuestAddress, _ body: (UnsafeMutablePointer<Atomic<UInt16>>) -> R
    ) throws(VirtqueueError) -> R {
        // The queue checked at creation that its rings lie in memory and are at least 2-byte aligned;
        // check alignment again here because the pointer conversion depends on it.
        precondition(address.isAligned(to: 2), "ring index address must be 2-byte aligned")
        do {
            return try memory.withUnsafeMutableBytes(at: address, count: 2) { bytes in
                // SAFETY: `bytes` is 2 bytes inside a live mapping (GuestMemory checked the range). The
                // mapping starts on a page boundary and a region's guest base is page-aligned, so the host
                // address is 2-byte aligned like the guest address (checked above): valid for an
                // `Atomic<UInt16>`, which has UInt16's size and alignment. Every access this library makes
                // to the field goes through this atomic view; the guest's own accesses are single-copy
                // atomic 16-bit accesses at the hardware level.
                let pointer = unsafe bytes.baseAddress!.assumingMemoryBound(to: Atomic<UInt16>.self)
                return unsafe body(pointer)
            }
        } catch let error as GuestMemoryError {
            throw .memory(error)
        } catch {
            preconditionFailure("unreachable: the body does not throw")
        }
    }
}
