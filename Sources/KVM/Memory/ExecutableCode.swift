// The VMM's own code and constant data in memory: the parts of the running executable that are never
// written, and which of their pages stay mapped. Most of a small VMM's resident memory is these pages
// (Benchmarks/vmm-memory.sh), and most of those are mapped not because the VMM runs or reads them but
// because the kernel maps up to 64 KiB of file pages around each page fault ("fault-around",
// mm/memory.c). ExecutableCode turns that off for them and unmaps what start-up mapped, so that only
// pages the VMM touches afterwards are resident.

import CKVMShims
import Glibc

/// The running executable's code and constant data, and how many of their pages stay mapped.
///
/// When a process first touches a page of a file it maps, Linux maps not just that page but the
/// pages around it that the page cache already holds, up to 64 KiB (`fault_around_bytes`): fewer
/// page faults, more resident memory. For a VMM whose executable is a few MiB of code (a fully
/// static Swift program), most of its resident memory is such pages: code next to code it runs.
/// Two calls, early in `main`, keep only the pages the VMM actually touches:
///
/// ```swift
/// try? ExecutableCode.disableFaultAround()     // from now on, one page per fault
/// _ = try? ExecutableCode.unmapCleanPages()   // and forget what start-up mapped
/// ```
///
/// Both concern only ``regions``: the executable's segments that are never written (code,
/// read-only data, and the part made read-only after relocation), never its data, heap, stacks or
/// guest RAM. The pages stay in the page cache, shared with every other process mapping the file;
/// what changes is how many this process maps, and so its resident set. The cost is a page fault
/// for each page touched after the calls instead of one per 64 KiB: some hundreds in a VMM's life,
/// about a microsecond each (the `boot` example on a synthetic kernel: 630 more, 0.7 ms).
public enum ExecutableCode {
    /// A part of the executable's image that is never written, page-aligned.
    public struct Region: Hashable, Sendable {
        /// What the region holds.
        public enum Kind: Hashable, Sendable {
            /// An executable segment (`PT_LOAD` with `PF_X`): the program's code.
            case code
            /// A read-only segment (`PT_LOAD` with neither `PF_W` nor `PF_X`): constants,
            /// metadata, unwind tables.
            case readOnlyData
            /// The part of a writable segment the loader makes read-only once it has applied the
            /// relocations (`PT_GNU_RELRO`): the GOT, vtables, Swift metadata that holds pointers.
            case readOnlyAfterRelocation
        }

        /// What the region holds.
        public var kind: Kind

        /// Its addresses in this process, whole pages: a segment's partial first and last pages are
        /// left out (they may be shared with a writable neighbour), and the read-only-after-relocation
        /// range is rounded down at both ends, as the loader does when it protects it.
        public var addresses: Range<UInt>
    }

    /// The executable's never-written regions, in address order, from its program headers
    /// (`dl_iterate_phdr`, which describes a fully static executable as well as a dynamically linked
    /// one). Shared libraries are not included.
    public static let regions: [Region] = {
        var headers = [ckvm_segment](repeating: ckvm_segment(), count: 16)
        while true {
            // SAFETY: ckvm_executable_segments writes at most `headers.count` entries into the
            // array's storage, which lives for the call.
            let total = unsafe headers.withUnsafeMutableBufferPointer { unsafe ckvm_executable_segments($0.baseAddress, Int32($0.count)) }
            guard Int(total) > headers.count else {
                headers.removeLast(headers.count - Int(total))
                break
            }
            headers = [ckvm_segment](repeating: ckvm_segment(), count: Int(total))
        }
        let program = headers.map {
            ProgramHeader(type: $0.type, flags: $0.flags, start: UInt($0.start), size: UInt($0.size))
        }
        return regions(of: program, pageSize: UInt(hostPageSize))
    }()

    /// The part of an ELF program header that locates a segment in memory.
    struct ProgramHeader: Hashable, Sendable {
        static let load: UInt32 = 1  // PT_LOAD
        static let relocationReadOnly: UInt32 = 0x6474_E552  // PT_GNU_RELRO
        static let executable: UInt32 = 1, writable: UInt32 = 2  // PF_X, PF_W
        var type: UInt32
        var flags: UInt32
        /// Where the segment starts in this process (the load bias added).
        var start: UInt
        /// Its size in memory (`p_memsz`).
        var size: UInt
    }

    /// The never-written regions among `headers`: the non-writable `PT_LOAD`s rounded inwards to
    /// whole pages, and the `PT_GNU_RELRO` range rounded down at both ends, as the loader protects it.
    static func regions(of headers: [ProgramHeader], pageSize: UInt) -> [Region] {
        let mask = pageSize - 1
        var regions: [Region] = []
        for header in headers {
            let end = header.start + header.size
            if header.type == ProgramHeader.load, header.flags & ProgramHeader.writable == 0 {
                let first = (header.start + mask) & ~mask, last = end & ~mask
                if first < last {
                    let kind: Region.Kind = header.flags & ProgramHeader.executable != 0 ? .code : .readOnlyData
                    regions.append(Region(kind: kind, addresses: first..<last))
                }
            } else if header.type == ProgramHeader.relocationReadOnly {
                let first = header.start & ~mask, last = end & ~mask
                if first < last { regions.append(Region(kind: .readOnlyAfterRelocation, addresses: first..<last)) }
            }
        }
        return regions.sorted { $0.addresses.lowerBound < $1.addresses.lowerBound }
    }

    /// The userfaultfd that keeps fault-around off, or why it could not be set up. Opened once, on
    /// the first call to ``disableFaultAround()``, and never closed: closing it would turn
    /// fault-around back on.
    private static let faultAround: Result<Int32, KVMRuntimeError> = {
        var failedStep: Int32 = 0
        // SAFETY: the shim writes one Int32 through the pointer, during the call.
        let descriptor = unsafe ckvm_userfaultfd_open_wp_async(&failedStep)
        guard descriptor >= 0 else {
            return .failure(.system(.fromCurrentErrno(operation: failedStep == 0 ? "userfaultfd" : "UFFDIO_API")))
        }
        for region in regions {
            let length = Int(region.addresses.upperBound - region.addresses.lowerBound)
            if ckvm_userfaultfd_register_wp(descriptor, region.addresses.lowerBound, length) != 0 {
                let error = KVMError.fromCurrentErrno(operation: "UFFDIO_REGISTER")
                _ = close(descriptor)  // unregisters whatever was registered
                return .failure(.system(error))
            }
        }
        return .success(descriptor)
    }()

    /// Turns off the kernel's fault-around for ``regions`` for the rest of the process's life:
    /// from now on a page fault there maps only the page touched.
    ///
    /// The kernel has no switch for this (`madvise(MADV_RANDOM)` only stops read-ahead from disk);
    /// what it does skip fault-around for is a range registered with a userfaultfd in
    /// write-protect mode (mm/memory.c, `uffd_disable_fault_around`). This registers ``regions``
    /// so, with `UFFD_FEATURE_WP_ASYNC`, under which the kernel resolves write-protect faults itself:
    /// no page is write-protected, nothing is delivered, no thread serves the descriptor. The
    /// descriptor (close-on-exec) stays open for the life of the process; a child made by `fork`
    /// gets its mappings without the registration. Calling again does nothing (or throws the same
    /// error).
    ///
    /// - Throws: ``KVMRuntimeError/system(_:)`` naming `userfaultfd` (`ENOSYS` in a kernel without
    ///   it, `EPERM` where a seccomp filter forbids it, as container runtimes' defaults do),
    ///   `UFFDIO_API` (`EINVAL` before Linux 6.7, which lacks `UFFD_FEATURE_WP_ASYNC`) or
    ///   `UFFDIO_REGISTER`. Fault-around then stays as it was; nothing else changes.
    public static func disableFaultAround() throws(KVMRuntimeError) {
        _ = try faultAround.get()
    }

    /// Unmaps the pages of ``regions`` that are mapped now and still hold the file's contents, so
    /// that only pages touched afterwards are resident (after ``disableFaultAround()``, one page per
    /// page touched); returns how many bytes it unmapped.
    ///
    /// Nothing is lost: the pages stay in the page cache, and a page unmapped here that runs or is
    /// read again is mapped again by the next page fault. A page that is no longer the file's (one a
    /// debugger wrote a breakpoint into, or text relocated at load time) is never unmapped: each
    /// page's state is read from `/proc/self/pagemap` first, and only pages mapped from the page
    /// cache (present, "file page") are unmapped (`madvise(MADV_DONTNEED)`).
    ///
    /// - Throws: ``KVMRuntimeError/system(_:)`` naming `open(/proc/self/pagemap)`, `pread` or
    ///   `madvise(MADV_DONTNEED)` (`EINVAL` for memory locked with `mlock`/`mlockall`); what was
    ///   unmapped before the failure stays unmapped.
    @discardableResult
    public static func unmapCleanPages() throws(KVMRuntimeError) -> Int {
        let descriptor = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .system(.fromCurrentErrno(operation: "open(/proc/self/pagemap)")) }
        defer { _ = close(descriptor) }
        let pageSize = UInt(hostPageSize)
        var entries = [UInt64](repeating: 0, count: 512)
        var unmapped = 0
        for region in regions {
            var page = region.addresses.lowerBound
            var run: UInt?  // the first page of a run of file pages not yet unmapped
            while page < region.addresses.upperBound {
                let count = min(entries.count, Int((region.addresses.upperBound - page) / pageSize))
                let offset = off_t(page / pageSize) * 8
                // SAFETY: pread writes at most `count` 8-byte entries into the array's storage,
                // which holds `entries.count >= count` of them and lives for the call.
                let read = unsafe entries.withUnsafeMutableBytes { unsafe pread(descriptor, $0.baseAddress, count * 8, offset) }
                guard read == count * 8 else {
                    let operation = "pread(/proc/self/pagemap)"
                    throw .system(read < 0 ? .fromCurrentErrno(operation: operation) : KVMError(operation: operation, errno: .ioError))
                }
                for entry in entries.prefix(count) {
                    if PagemapEntry(entry).isMappedFilePage {
                        if run == nil { run = page }
                    } else if let start = run {
                        unmapped += try unmap(start..<page)
                        run = nil
                    }
                    page += pageSize
                }
            }
            if let start = run { unmapped += try unmap(start..<page) }
        }
        return unmapped
    }

    /// `madvise(MADV_DONTNEED)` over pages of ``regions`` that `/proc/self/pagemap` just showed
    /// mapped from the page cache.
    private static func unmap(_ pages: Range<UInt>) throws(KVMRuntimeError) -> Int {
        let length = Int(pages.upperBound - pages.lowerBound)
        // SAFETY: the range lies within one of `regions`, mappings of the executable that nothing
        // writes, and pagemap showed each of its pages mapped from the page cache: dropping them
        // loses no data (the next fault maps the same file page again). Swift holds no pointer into
        // them that the call could invalidate, since the memory stays mapped.
        guard unsafe madvise(UnsafeMutableRawPointer(bitPattern: pages.lowerBound), length, MADV_DONTNEED) == 0 else {
            throw .system(.fromCurrentErrno(operation: "madvise(MADV_DONTNEED)"))
        }
        return length
    }

    /// One page's entry in `/proc/PID/pagemap` (Documentation/admin-guide/mm/pagemap.rst).
    struct PagemapEntry: Hashable, Sendable {
        var rawValue: UInt64
        init(_ rawValue: UInt64) { self.rawValue = rawValue }
        /// Bit 63: the page is present in RAM and mapped.
        var isPresent: Bool { rawValue & (1 << 63) != 0 }
        /// Bit 61: the page is a page-cache page (or shared anonymous memory), not private anonymous
        /// memory such as a copy-on-write copy of a file page.
        var isFileOrSharedAnonymous: Bool { rawValue & (1 << 61) != 0 }
        /// Present and mapped straight from the page cache: holds exactly the file's contents.
        var isMappedFilePage: Bool { isPresent && isFileOrSharedAnonymous }
    }
}
