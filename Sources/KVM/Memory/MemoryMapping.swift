import CKVMShims
import Glibc
import SystemPackage

/// A host memory mapping that backs guest RAM: anonymous memory, a memory file (memfd), or huge
/// pages from hugetlbfs, as a ``MemoryBacking`` says.
///
/// The default (``init(byteCount:)``) is `mmap(PROT_READ | PROT_WRITE, MAP_PRIVATE |
/// MAP_ANONYMOUS | MAP_NORESERVE)`: pages are only committed when first touched. The mapping
/// (and its memory file, if any) is released when the object is deinitialized. Its size is the
/// requested size rounded up to ``pageSize``.
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
    // @unchecked Sendable: every stored property is immutable after init; the memory they
    // describe is deliberately shared (see the type's documentation).

    /// The start of the mapping. Valid for `byteCount` bytes until `deinit`.
    @usableFromInline
    internal let base: UnsafeMutableRawPointer

    /// The size of the mapping in bytes: a positive multiple of ``pageSize``.
    public let byteCount: Int

    /// The size of the pages behind the mapping: ``hostPageSize``, or the huge-page size of a
    /// ``MemoryBacking/Source/hugeTLB(pageSize:)`` mapping.
    public let pageSize: Int

    /// How the mapping was made.
    public let backing: MemoryBacking

    /// The memory file behind a ``MemoryBacking/Source/memoryFile(name:)`` or
    /// ``MemoryBacking/Source/hugeTLB(pageSize:)`` mapping (offset 0 is the mapping's first byte),
    /// for sharing guest RAM with another process; `nil` for anonymous memory. Owned by the
    /// mapping: do not close it (duplicate it to keep it longer).
    public let memoryFile: FileDescriptor?

    /// Maps `byteCount` bytes (rounded up to a whole number of host pages) of fresh,
    /// zero-filled private anonymous memory.
    ///
    /// - Parameter byteCount: The minimum size in bytes. Must be positive.
    /// - Throws: ``KVMRuntimeError/invalidArgument(operation:reason:)`` if `byteCount` is not
    ///   positive or rounding it up overflows; ``KVMRuntimeError/system(_:)`` (`mmap`) if the
    ///   kernel cannot reserve the address space.
    public convenience init(byteCount: Int) throws(KVMRuntimeError) {
        try self.init(byteCount: byteCount, backing: .anonymous)
    }

    /// Maps `byteCount` bytes (rounded up to whole pages of the backing) of fresh, zero-filled
    /// memory backed as `backing` says, then applies its advice (transparent huge pages, populate).
    ///
    /// - Parameters:
    ///   - byteCount: The minimum size in bytes. Must be positive.
    ///   - backing: Where the pages come from and what to advise.
    /// - Throws: ``KVMRuntimeError/invalidArgument(operation:reason:)`` for a size that is not
    ///   positive or overflows when rounded up, or a memory-file name containing a NUL byte;
    ///   ``KVMRuntimeError/hugePagesUnavailable(pageSize:needed:free:)`` when the host has too few
    ///   free huge pages; ``KVMRuntimeError/system(_:)`` naming `memfd_create`, `ftruncate`,
    ///   `mmap` or `madvise` otherwise. Nothing stays mapped or open after a failure.
    public init(byteCount: Int, backing: MemoryBacking) throws(KVMRuntimeError) {
        let pageSize: Int
        if case .hugeTLB(let size) = backing.source { pageSize = size.rawValue } else { pageSize = hostPageSize }
        guard byteCount > 0 else {
            throw .invalidArgument(operation: "MemoryMapping(byteCount:)", reason: "size \(byteCount) is not positive")
        }
        let (padded, overflow) = byteCount.addingReportingOverflow(pageSize - 1)
        guard !overflow else {
            throw .invalidArgument(operation: "MemoryMapping(byteCount:)", reason: "size \(byteCount) overflows when rounded up to \(pageSize)-byte pages")
        }
        let size = padded & ~(pageSize - 1)
        if !backing.allowsOvercommit, backing.source.isLazilyCommitted, let available = Self.hostMemoryAndSwap(), size > available {
            throw .hostMemoryExceeded(requested: size, available: available)
        }

        var file: FileDescriptor?
        switch backing.source {
        case .anonymous:
            file = nil
        case .memoryFile(let name):
            file = try Self.createMemoryFile(name: name, flags: CKVM_MFD_CLOEXEC)
        case .hugeTLB(let hugePageSize):
            file = try Self.createMemoryFile(
                name: "guest-ram-hugetlb", flags: CKVM_MFD_CLOEXEC | CKVM_MFD_HUGETLB | (hugePageSize.shift << CKVM_MFD_HUGE_SHIFT))
        }
        if let file {
            // SAFETY: ftruncate on a descriptor this initializer just created and owns.
            if ftruncate(file.rawValue, off_t(size)) != 0 {
                let error = KVMError.fromCurrentErrno(operation: "ftruncate(memfd)")
                try? file.close()
                throw .system(error)
            }
        }
        let flags = file == nil ? MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE : MAP_SHARED
        // SAFETY: a fresh mapping at an address the kernel chooses (addr = nil) cannot alias any
        // existing Swift object; for anonymous memory fd -1 and offset 0 are what MAP_ANONYMOUS
        // requires, otherwise the whole of a memory file this initializer sized is mapped.
        let address = unsafe mmap(nil, size, PROT_READ | PROT_WRITE, flags, file?.rawValue ?? -1, 0)
        guard let address = unsafe address, unsafe address != MAP_FAILED else {
            let error = KVMError.fromCurrentErrno(operation: "mmap")
            try? file?.close()
            if case .hugeTLB(let hugePageSize) = backing.source, error.errno == .noMemory {
                throw .hugePagesUnavailable(
                    pageSize: hugePageSize.rawValue, needed: size / hugePageSize.rawValue, free: Self.freeHugePages(hugePageSize))
            }
            throw .system(error)
        }
        unsafe self.base = address
        self.byteCount = size
        self.pageSize = pageSize
        self.backing = backing
        self.memoryFile = file
        // From here on deinit releases the mapping and the file if advice fails.
        if backing.transparentHugePages { try advise(CKVM_MADV_HUGEPAGE, name: "madvise(MADV_HUGEPAGE)") }
        if backing.populate { try advise(CKVM_MADV_POPULATE_WRITE, name: "madvise(MADV_POPULATE_WRITE)") }
    }

    /// The host's RAM plus swap in bytes (`sysinfo`), or nil if the kernel does not say.
    static func hostMemoryAndSwap() -> Int? {
        let total = ckvm_host_memory_and_swap()
        return total == 0 ? nil : Int(clamping: total)
    }

    deinit {
        // SAFETY: `base` and `byteCount` describe exactly the mapping created in init, which
        // nothing else unmaps; no borrowed buffer outlives this object because every accessor
        // lends the memory only for the duration of a call on `self`. munmap of a valid
        // mapping cannot fail, so its result is ignored.
        _ = unsafe munmap(base, byteCount)
        try? memoryFile?.close()
    }

    /// The host virtual address of the first byte, for `kvm_userspace_memory_region.userspace_addr`.
    public var hostAddress: UInt64 {
        // SAFETY: converting a pointer to its integer value reads nothing.
        UInt64(UInt(bitPattern: unsafe base))
    }

    /// Asks for transparent huge pages on the whole mapping (`madvise(MADV_HUGEPAGE)`): see
    /// ``MemoryBacking/transparentHugePages``. Changes how the kernel backs the memory, never what
    /// it holds.
    ///
    /// - Throws: ``KVMRuntimeError/system(_:)`` naming `madvise(MADV_HUGEPAGE)`, e.g. `EINVAL` on a
    ///   kernel built without transparent huge pages.
    public func adviseTransparentHugePages() throws(KVMRuntimeError) {
        try advise(CKVM_MADV_HUGEPAGE, name: "madvise(MADV_HUGEPAGE)")
    }

    /// Commits every page of the mapping now (`madvise(MADV_POPULATE_WRITE)`): see
    /// ``MemoryBacking/populate``. The bytes already written are kept; the others read as zero.
    ///
    /// - Throws: ``KVMRuntimeError/system(_:)`` naming `madvise(MADV_POPULATE_WRITE)`: `EINVAL`
    ///   before Linux 5.14, `ENOMEM` when the host cannot supply the memory.
    public func populate() throws(KVMRuntimeError) {
        try advise(CKVM_MADV_POPULATE_WRITE, name: "madvise(MADV_POPULATE_WRITE)")
    }

    private func advise(_ advice: Int32, name: String) throws(KVMRuntimeError) {
        // SAFETY: `base ..< base + byteCount` is exactly this object's live mapping; these advice
        // values change only how the kernel backs it, never its contents.
        while unsafe madvise(base, byteCount, advice) != 0 {
            let error = KVMError.fromCurrentErrno(operation: name)
            // MADV_POPULATE_WRITE reports EINTR when a signal arrives; what it populated stays.
            if error.errno == .interrupted { continue }
            throw .system(error)
        }
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

    // MARK: Creation helpers

    private static func createMemoryFile(name: String, flags: UInt32) throws(KVMRuntimeError) -> FileDescriptor {
        guard !name.utf8.contains(0) else {
            throw .invalidArgument(operation: "memfd_create", reason: "the name contains a NUL byte")
        }
        // SAFETY: memfd_create reads the NUL-terminated name only during the call.
        let descriptor = name.withCString { ckvm_memfd_create($0, flags) }
        guard descriptor >= 0 else {
            let error = KVMError.fromCurrentErrno(operation: "memfd_create")
            throw .system(error)
        }
        return FileDescriptor(rawValue: descriptor)
    }

    /// The free huge pages of `size` the host reports, or nil if it reports none.
    static func freeHugePages(_ size: HugePageSize) -> Int? {
        let path = size.sysfsDirectory + "/free_hugepages"
        guard let fd = try? FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) else { return nil }
        defer { try? fd.close() }
        var buffer = [UInt8](repeating: 0, count: 32)
        guard let count = try? buffer.withUnsafeMutableBytes({ try fd.read(into: $0) }), count > 0 else { return nil }
        return Int(String(decoding: buffer[..<count], as: UTF8.self).trimmingWhitespace)
    }
}

extension String {
    /// The string without leading and trailing spaces and newlines.
    fileprivate var trimmingWhitespace: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[first...last]
    }
}
