/// How host memory backs a ``MemoryMapping`` (and so guest RAM): where the pages come from, and
/// what the kernel is asked to do with them.
///
/// ```swift
/// // Anonymous memory, as before: pages are committed when the guest first touches them.
/// try vm.mapMemory(slot: 0, at: 0, size: 256 << 20)
/// // A memfd, shareable with another process (a vhost-user back end) through its descriptor,
/// // backed by transparent huge pages and populated before the guest runs.
/// try vm.mapMemory(slot: 0, at: 0, size: 256 << 20,
///                  backing: MemoryBacking(source: .memoryFile(name: "ram"), transparentHugePages: true, populate: true))
/// // Reserved huge pages (hugetlbfs): fails with `.hugePagesUnavailable` if the host has too few.
/// try vm.mapMemory(slot: 0, at: 0, size: 256 << 20, backing: .hugeTLB(pageSize: .twoMiB))
/// ```
public struct MemoryBacking: Sendable, Hashable {
    /// Where the pages come from.
    public enum Source: Sendable, Hashable {
        /// Private anonymous memory (`MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE`): zero-filled,
        /// committed page by page on first touch. The default.
        case anonymous
        /// A memory file (`memfd_create`, mapped `MAP_SHARED`): the same zero-filled, lazily
        /// committed memory, but with a descriptor (``MemoryMapping/memoryFile``) that another
        /// process can map to share guest RAM (a vhost-user device, a snapshot writer).
        case memoryFile(name: String)
        /// Huge pages from the host's hugetlbfs pool (`memfd_create(MFD_HUGETLB)`, mapped
        /// `MAP_SHARED`): the size is rounded up to whole huge pages, which are reserved when the
        /// mapping is made, so a host without enough free huge pages fails at once with
        /// ``KVMRuntimeError/hugePagesUnavailable(pageSize:needed:free:)`` rather than at a guest
        /// fault. Also has a ``MemoryMapping/memoryFile``.
        case hugeTLB(pageSize: HugePageSize)
    }

    /// Where the pages come from.
    public var source: Source

    /// Asks for transparent huge pages (`madvise(MADV_HUGEPAGE)`), which a host whose THP mode is
    /// `madvise` needs before it backs a mapping with 2 MiB pages: one host fault per 2 MiB instead
    /// of per 4 KiB, and fewer TLB misses. Not meaningful with ``Source/hugeTLB(pageSize:)``.
    public var transparentHugePages: Bool

    /// Commits every page before the mapping is returned (`madvise(MADV_POPULATE_WRITE)`, Linux
    /// 5.14): no host faults while the guest runs, at the cost of start-up time and resident memory.
    public var populate: Bool

    /// Maps more than the host's RAM and swap together when asked (anonymous and memory-file
    /// sources only; huge pages are reserved up front and fail on their own). Off by default: such
    /// a mapping throws ``KVMRuntimeError/hostMemoryExceeded(requested:available:)`` instead of
    /// succeeding lazily and leaving the VMM to the OOM killer when the guest touches its RAM.
    public var allowsOvercommit: Bool = false

    /// Creates a backing description.
    ///
    /// - Parameters:
    ///   - source: Where the pages come from.
    ///   - transparentHugePages: Whether to `madvise(MADV_HUGEPAGE)`.
    ///   - populate: Whether to `madvise(MADV_POPULATE_WRITE)` the whole mapping.
    public init(source: Source = .anonymous, transparentHugePages: Bool = false, populate: Bool = false) {
        self.source = source
        self.transparentHugePages = transparentHugePages
        self.populate = populate
    }

    /// Private anonymous memory, nothing advised: what ``MemoryMapping/init(byteCount:)`` makes.
    public static let anonymous = MemoryBacking()

    /// A memory file (`memfd_create`) named `name` (the name shows in `/proc/<pid>/maps`).
    public static func memoryFile(name: String = "guest-ram") -> MemoryBacking {
        MemoryBacking(source: .memoryFile(name: name))
    }

    /// Huge pages of `pageSize` from the host's hugetlbfs pool.
    public static func hugeTLB(pageSize: HugePageSize = .twoMiB) -> MemoryBacking {
        MemoryBacking(source: .hugeTLB(pageSize: pageSize))
    }
}

/// A huge-page size the host's hugetlbfs may offer (x86-64: 2 MiB and 1 GiB; arm64 with 4 KiB
/// pages: 64 KiB, 2 MiB, 32 MiB, 1 GiB).
public struct HugePageSize: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The size in bytes, a power of two.
    public let rawValue: Int

    /// A huge-page size of `rawValue` bytes, or `nil` if that is not a power of two of at least 64 KiB.
    public init?(rawValue: Int) {
        guard rawValue >= 1 << 16, rawValue & (rawValue - 1) == 0 else { return nil }
        self.rawValue = rawValue
    }

    private init(uncheckedBytes: Int) {
        rawValue = uncheckedBytes
    }

    /// 2 MiB.
    public static let twoMiB = HugePageSize(uncheckedBytes: 2 << 20)
    /// 1 GiB.
    public static let oneGiB = HugePageSize(uncheckedBytes: 1 << 30)

    /// log2 of the size, as `MFD_HUGE_*` encodes it.
    var shift: UInt32 { UInt32(rawValue.trailingZeroBitCount) }

    /// The sysfs folder describing this size's pool.
    var sysfsDirectory: String { "/sys/kernel/mm/hugepages/hugepages-\(rawValue / 1024)kB" }

    /// `2 MiB`, `1 GiB`.
    public var description: String {
        rawValue >= 1 << 30 ? "\(rawValue >> 30) GiB" : rawValue >= 1 << 20 ? "\(rawValue >> 20) MiB" : "\(rawValue >> 10) KiB"
    }
}

extension MemoryBacking.Source {
    /// Anonymous and memory-file pages are committed on first touch; huge pages when mapped.
    var isLazilyCommitted: Bool {
        if case .hugeTLB = self { return false }
        return true
    }
}
