#if arch(x86_64)
import KVM

/// Bits of a 4-level page-table entry (Intel SDM vol. 3 §4.5).
public struct PageTableFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let present = PageTableFlags(rawValue: 1 << 0)
    public static let writable = PageTableFlags(rawValue: 1 << 1)
    /// U/S: CPL3 may access (needed at every level of the walk).
    public static let user = PageTableFlags(rawValue: 1 << 2)
    public static let writeThrough = PageTableFlags(rawValue: 1 << 3)
    public static let cacheDisable = PageTableFlags(rawValue: 1 << 4)
    public static let accessed = PageTableFlags(rawValue: 1 << 5)
    public static let dirty = PageTableFlags(rawValue: 1 << 6)
    /// PS: this PDPT/PD entry maps a 1 GiB / 2 MiB page instead of pointing at a table.
    public static let largePage = PageTableFlags(rawValue: 1 << 7)
    public static let global = PageTableFlags(rawValue: 1 << 8)
    /// XD: no instruction fetch (needs EFER.NXE).
    public static let noExecute = PageTableFlags(rawValue: 1 << 63)

    /// Present and writable, supervisor only.
    public static let kernel: PageTableFlags = [.present, .writable]
}

/// The page sizes 4-level paging maps.
public enum PageSize: UInt64, CaseIterable, Sendable {
    case size4KiB = 0x1000
    case size2MiB = 0x20_0000
    /// Needs CPUID.80000001H:EDX.Page1GB in the guest.
    case size1GiB = 0x4000_0000

    /// The level whose entry maps a page of this size: 1 (PT), 2 (PD) or 3 (PDPT).
    var leafLevel: Int {
        switch self {
        case .size4KiB: 1
        case .size2MiB: 2
        case .size1GiB: 3
        }
    }
}

/// Why a mapping or the tables' placement was refused.
public enum PageTableError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The tables' base address is not 4 KiB aligned.
    case misalignedTables(GuestAddress)
    /// A virtual or physical address or the size is not a multiple of the page size.
    case misaligned(virtual: UInt64, physical: UInt64, size: UInt64, pageSize: UInt64)
    /// The virtual range is not canonical (bits 63:47 must equal bit 47) or wraps.
    case nonCanonical(UInt64)
    /// The physical address exceeds 52 bits.
    case physicalAddressTooLarge(UInt64)
    /// The virtual address is already mapped (by a page or a table of another size).
    case alreadyMapped(UInt64)
    /// More tables are needed than the builder may place.
    case tooManyTables(limit: Int)

    public var description: String {
        func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
        switch self {
        case .misalignedTables(let base): return "page tables at \(base) are not 4 KiB aligned"
        case .misaligned(let virtual, let physical, let size, let pageSize):
            return "mapping \(hex(virtual)) → \(hex(physical)) (\(hex(size)) bytes) is not aligned to \(hex(pageSize))"
        case .nonCanonical(let virtual): return "virtual address \(hex(virtual)) is not canonical"
        case .physicalAddressTooLarge(let physical): return "physical address \(hex(physical)) exceeds 52 bits"
        case .alreadyMapped(let virtual): return "virtual address \(hex(virtual)) is already mapped"
        case .tooManyTables(let limit): return "the mappings need more than \(limit) page tables"
        }
    }
}

/// Builds 4-level page tables (PML4 → PDPT → PD → PT) for a guest and writes them into guest
/// memory at a caller-chosen address: the PML4 first, then every further table in the order the
/// mappings first need it, 4 KiB each. The PML4's address is CR3.
///
/// ```swift
/// var tables = try PageTableBuilder(at: 0x9000, maximumTables: 8)
/// try tables.identityMap(size: 4 << 30, pageSize: .size2MiB)              // the first 4 GiB
/// try tables.map(virtual: PageTableBuilder.kernelTextBase, physical: 0x100_0000,
///                size: 64 << 20, pageSize: .size2MiB)                    // a high-half kernel
/// let cr3 = try tables.write(into: vm.memory)
/// ```
public struct PageTableBuilder: Sendable {
    /// Where Linux maps its kernel image in the high half (`__START_KERNEL_map`).
    public static let kernelTextBase: UInt64 = 0xFFFF_FFFF_8000_0000
    /// Where Linux's direct map of all physical memory starts with 4-level paging (`PAGE_OFFSET`).
    public static let directMapBase: UInt64 = 0xFFFF_8880_0000_0000

    /// The guest-physical address of the PML4 (CR3) and of the tables after it.
    public let base: GuestAddress
    /// The most tables (4 KiB each) the builder may place from ``base``.
    public let maximumTables: Int
    /// Every table, PML4 first: 512 entries each.
    public private(set) var tables: [[UInt64]] = [[UInt64](repeating: 0, count: 512)]

    private static let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000

    /// - Parameters:
    ///   - base: Where the PML4 goes (4 KiB aligned); further tables follow it.
    ///   - maximumTables: How many 4 KiB tables fit where the caller puts them.
    public init(at base: GuestAddress, maximumTables: Int = 512) throws(PageTableError) {
        guard base.isAligned(to: 4096) else { throw .misalignedTables(base) }
        self.base = base
        self.maximumTables = max(1, maximumTables)
    }

    /// CR3 for these tables (PCID 0, no PWT/PCD).
    public var cr3: UInt64 { base.rawValue }

    /// How many bytes ``write(into:)`` writes.
    public var byteCount: Int { tables.count * 4096 }

    /// The guest-physical address of table `index`.
    public func address(ofTable index: Int) -> UInt64 { base.rawValue + UInt64(index) * 4096 }

    /// Maps `[virtual, virtual + size)` to `[physical, physical + size)` with pages of `pageSize`.
    /// `flags` go into every leaf entry (``PageTableFlags/present`` is always added); the tables
    /// above are present and writable, and user-accessible when any leaf under them is.
    public mutating func map(
        virtual: UInt64, physical: UInt64, size: UInt64, pageSize: PageSize, flags: PageTableFlags = .kernel
    ) throws(PageTableError) {
        let page = pageSize.rawValue
        guard virtual % page == 0, physical % page == 0, size % page == 0 else {
            throw .misaligned(virtual: virtual, physical: physical, size: size, pageSize: page)
        }
        guard size > 0 else { return }
        let (lastVirtual, wraps) = virtual.addingReportingOverflow(size - 1)
        // Both ends canonical and in the same half: the range does not cross the hole.
        guard !wraps, Self.isCanonical(virtual), Self.isCanonical(lastVirtual), virtual >> 47 == lastVirtual >> 47
        else { throw .nonCanonical(virtual) }
        let (lastPhysical, physicalWraps) = physical.addingReportingOverflow(size - 1)
        guard !physicalWraps, lastPhysical >> 52 == 0 else { throw .physicalAddressTooLarge(physical) }

        // Check everything first, so that a refused mapping changes nothing.
        var copy = self
        var offset: UInt64 = 0
        while offset < size {
            try copy.mapPage(virtual: virtual + offset, physical: physical + offset, pageSize: pageSize, flags: flags)
            offset += page
        }
        self = copy
    }

    /// Maps `[0, size)` to itself.
    public mutating func identityMap(size: UInt64, pageSize: PageSize, flags: PageTableFlags = .kernel) throws(PageTableError) {
        try map(virtual: 0, physical: 0, size: size, pageSize: pageSize, flags: flags)
    }

    /// Writes every table into guest memory at ``base`` and returns CR3.
    @discardableResult
    public func write(into memory: GuestMemory) throws(GuestMemoryError) -> UInt64 {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(byteCount)
        for table in tables { for entry in table { bytes += littleEndianBytes(entry) } }
        try memory.write(bytes: bytes, at: base)
        return cr3
    }

    // MARK: Private

    private static func isCanonical(_ address: UInt64) -> Bool {
        let top = address >> 47
        return top == 0 || top == 0x1_FFFF
    }

    private mutating func mapPage(virtual: UInt64, physical: UInt64, pageSize: PageSize, flags: PageTableFlags) throws(PageTableError) {
        var table = 0
        var level = 4
        let tableFlags: UInt64 = PageTableFlags.present.rawValue | PageTableFlags.writable.rawValue
            | (flags.contains(.user) ? PageTableFlags.user.rawValue : 0)
        while level > pageSize.leafLevel {
            let index = Int((virtual >> UInt64(12 + 9 * (level - 1))) & 0x1FF)
            let entry = tables[table][index]
            if entry & PageTableFlags.present.rawValue == 0 {
                guard tables.count < maximumTables else { throw .tooManyTables(limit: maximumTables) }
                tables.append([UInt64](repeating: 0, count: 512))
                tables[table][index] = address(ofTable: tables.count - 1) | tableFlags
                table = tables.count - 1
            } else {
                guard entry & PageTableFlags.largePage.rawValue == 0 else { throw .alreadyMapped(virtual) }
                tables[table][index] = entry | tableFlags
                table = Int(((entry & Self.addressMask) - base.rawValue) / 4096)
            }
            level -= 1
        }
        let index = Int((virtual >> UInt64(12 + 9 * (level - 1))) & 0x1FF)
        guard tables[table][index] & PageTableFlags.present.rawValue == 0 else { throw .alreadyMapped(virtual) }
        var leaf = physical | flags.rawValue | PageTableFlags.present.rawValue
        if pageSize == .size4KiB { leaf &= ~PageTableFlags.largePage.rawValue } else { leaf |= PageTableFlags.largePage.rawValue }
        tables[table][index] = leaf
    }
}
#endif
