import Glibc
import SystemPackage

/// An anonymous, private, zero-filled host memory mapping that backs guest RAM.
///
/// The mapping is created with `mmap(PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
/// MAP_NORESERVE)`, so pages are only committed when first touched, and it is unmapped when
/// the object is deinitialized. Its size is the requested size rounded up to ``hostPageSize``.
///
/// The object is immutable and may be shared between threads. The *bytes* it holds are shared
/// mutable memory without any synchronization, by design: once registered with KVM, the guest
/// writes them at any time. ``GuestMemory`` copies in and out of it with plain `memcpy`; see
/// its documentation for why that is the right tool.
///
/// Keep the mapping alive for as long as KVM may access it: a memory slot that still points at
/// an unmapped range would let the guest fault on, or see, whatever the host maps there next.
@safe
public final class MemoryMapping: @unchecked Sendable {
    // @safe: the raw pointer never leaves the module except through `withUnsafeMutableBytes`,
    // which bounds it to the mapping and to the call, so using a MemoryMapping is memory safe.
    // @unchecked Sendable: both stored properties are immutable after init; the memory they
    // describe is deliberately shared (see the type's documentation).

    /// The start of the mapping. Valid for `byteCount` bytes until `deinit`.
    @usableFromInline
    internal let base: UnsafeMutableRawPointer

    /// The size of the mapping in bytes: a positive multiple of ``hostPageSize``.
    public let byteCount: Int

    /// Maps `byteCount` bytes (rounded up to a whole number of host pages) of fresh,
    /// zero-filled anonymous memory.
    ///
    /// - Parameter byteCount: The minimum size in bytes. Must be positive.
    /// - Throws: ``KVMError`` with operation `"mmap"`: `EINVAL` if `byteCount` is not positive,
    ///   `ENOMEM` if rounding it up overflows or the kernel cannot reserve the address space.
    public init(byteCount: Int) throws(KVMError) {
        guard byteCount > 0 else {
            throw KVMError(operation: "mmap", errno: .invalidArgument)
        }
        let (padded, overflow) = byteCount.addingReportingOverflow(hostPageSize - 1)
        guard !overflow else {
            throw KVMError(operation: "mmap", errno: .noMemory)
        }
        let size = padded & ~(hostPageSize - 1)
        // SAFETY: a fresh anonymous mapping at an address the kernel chooses (addr = nil) cannot
        // alias any existing Swift object; fd -1 and offset 0 are what MAP_ANONYMOUS requires.
        let address = unsafe mmap(
            nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let address = unsafe address, unsafe address != MAP_FAILED else {
            throw KVMError.fromCurrentErrno(operation: "mmap")
        }
        unsafe self.base = address
        self.byteCount = size
    }

    deinit {
        // SAFETY: `base` and `byteCount` describe exactly the mapping created in init, which
        // nothing else unmaps; no borrowed buffer outlives this object because every accessor
        // lends the memory only for the duration of a call on `self`. munmap of a valid
        // mapping cannot fail, so its result is ignored.
        _ = unsafe munmap(base, byteCount)
    }

    /// The host virtual address of the first byte, for `kvm_userspace_memory_region.userspace_addr`.
    public var hostAddress: UInt64 {
        // SAFETY: converting a pointer to its integer value reads nothing.
        UInt64(UInt(bitPattern: unsafe base))
    }

    /// Calls `body` with the whole mapping as a mutable buffer.
    ///
    /// The buffer is valid only during `body`; do not let it escape. The guest may change
    /// the bytes concurrently once the mapping is registered with KVM.
    ///
    /// - Parameter body: A closure that reads or writes the mapping.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    @inlinable
    public func withUnsafeMutableBytes<Result, Failure: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // SAFETY: `base ..< base + byteCount` is the live mapping; `self` is kept alive by the
        // caller for the duration of this method call, so the mapping outlives `body`.
        try unsafe body(UnsafeMutableRawBufferPointer(start: base, count: byteCount))
    }
}
