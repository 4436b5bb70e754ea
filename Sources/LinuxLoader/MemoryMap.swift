// The guest-physical memory map: which ranges are RAM and which are reserved. The caller describes its
// machine with one (`MemoryMap(ramSize:)` gives the standard PC layout: RAM below 640 KiB and from 1 MiB,
// the EBDA and BIOS area reserved, a hole below 4 GiB for the IOAPIC and LAPICs); the loader checks every
// placement against it and hands it to the kernel as the zero page's e820 table, start_info's memmap or
// the multiboot mmap.

/// One e820 entry: `size` bytes from `address`, of `kind`.
public struct E820Entry: Equatable, Sendable, CustomStringConvertible {
    /// The e820 type. Open: a raw value the loader does not name is kept as is.
    public struct Kind: RawRepresentable, Equatable, Sendable, CustomStringConvertible {
        public var rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Usable RAM (1).
        public static let ram = Kind(rawValue: 1)
        /// Reserved (2).
        public static let reserved = Kind(rawValue: 2)
        /// ACPI tables, reclaimable after boot (3).
        public static let acpi = Kind(rawValue: 3)
        /// ACPI non-volatile storage (4).
        public static let nvs = Kind(rawValue: 4)
        /// Unusable (5).
        public static let unusable = Kind(rawValue: 5)

        public var description: String {
            switch rawValue {
            case 1: return "ram"
            case 2: return "reserved"
            case 3: return "acpi"
            case 4: return "nvs"
            case 5: return "unusable"
            default: return "type \(rawValue)"
            }
        }
    }

    /// The first byte.
    public var address: UInt64
    /// The length in bytes.
    public var size: UInt64
    /// What the range is.
    public var kind: Kind

    /// An entry of `size` bytes from `address`.
    public init(address: UInt64, size: UInt64, kind: Kind) {
        self.address = address
        self.size = size
        self.kind = kind
    }

    /// One past the last byte (saturating at `UInt64.max`).
    public var end: UInt64 { address.addingReportingOverflow(size).overflow ? .max : address + size }

    public var description: String { "[\(hex(address, digits: 9))-\(hex(end &- 1, digits: 9))] \(kind)" }
}

/// The guest's memory map: its RAM and the ranges the kernel must leave alone.
public struct MemoryMap: Equatable, Sendable {
    /// Conventional memory ends at the EBDA, just below 640 KiB.
    public static let ebdaStart: UInt64 = 0x9_FC00
    /// The end of conventional memory (640 KiB).
    public static let conventionalEnd: UInt64 = 0xA_0000
    /// The BIOS area (0xE0000-0xFFFFF), where ACPI tables usually go and Linux scans for the RSDP.
    public static let biosAreaStart: UInt64 = 0xE_0000
    /// Where RAM resumes above the legacy holes (1 MiB).
    public static let highMemoryStart: UInt64 = 0x10_0000
    /// In the PC layout, RAM above this goes above 4 GiB, leaving a hole for the IOAPIC (0xFEC00000)
    /// and LAPICs (0xFEE00000).
    public static let lowMemoryLimit: UInt64 = 0xC000_0000
    /// 4 GiB.
    public static let fourGiB: UInt64 = 0x1_0000_0000

    /// The entries, sorted by address, non-overlapping.
    public let entries: [E820Entry]

    /// Why a caller's map was refused.
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// Entry `index` overlaps the one before it (or the list is not sorted).
        case overlapping(index: Int)
        /// Entry `index` runs past 2^64.
        case wraps(index: Int)

        public var description: String {
            switch self {
            case .overlapping(let index): return "memory map entry \(index) overlaps the previous one (entries must be sorted and disjoint)"
            case .wraps(let index): return "memory map entry \(index) runs past the end of the address space"
            }
        }
    }

    /// A map of the caller's own making: `entries` sorted by address and disjoint.
    public init(entries: [E820Entry]) throws(Failure) {
        for (index, entry) in entries.enumerated() {
            guard !entry.address.addingReportingOverflow(entry.size).overflow else { throw .wraps(index: index) }
            if index > 0, entries[index - 1].end > entry.address { throw .overlapping(index: index) }
        }
        self.entries = entries
    }

    /// The standard PC layout for `ramSize` bytes of RAM: RAM from 0 to the EBDA, the EBDA and the BIOS
    /// area (0xE0000-0xFFFFF) reserved, RAM from 1 MiB up to 3 GiB, and the rest of RAM from 4 GiB.
    public init(ramSize: UInt64) {
        let lowEnd = min(ramSize, Self.lowMemoryLimit)
        var entries = [
            E820Entry(address: 0, size: Self.ebdaStart, kind: .ram),
            E820Entry(address: Self.ebdaStart, size: Self.conventionalEnd - Self.ebdaStart, kind: .reserved),
            E820Entry(address: Self.biosAreaStart, size: Self.highMemoryStart - Self.biosAreaStart, kind: .reserved),
        ]
        if lowEnd > Self.highMemoryStart {
            entries.append(E820Entry(address: Self.highMemoryStart, size: lowEnd - Self.highMemoryStart, kind: .ram))
        }
        if ramSize > Self.lowMemoryLimit {
            entries.append(E820Entry(address: Self.fourGiB, size: ramSize - Self.lowMemoryLimit, kind: .ram))
        }
        self.entries = entries
    }

    /// The total size of the RAM entries (for the PC layout, less than the `ramSize` it was made with:
    /// the EBDA and the BIOS area are reserved).
    public var totalRAM: UInt64 { entries.filter { $0.kind == .ram }.reduce(0) { $0 &+ $1.size } }

    /// What a VMM backs with memory: one span below 4 GiB, from the lowest entry to the end of the
    /// highest (reserved ranges and the legacy hole between them included: ordinary memory the kernel
    /// leaves alone), and one span for the entries from 4 GiB. For the PC layout: 0 up to the end of low
    /// RAM, and the RAM above 4 GiB.
    public var slots: [(address: UInt64, size: UInt64)] {
        var slots: [(address: UInt64, size: UInt64)] = []
        for group in [entries.filter { $0.end <= Self.fourGiB }, entries.filter { $0.end > Self.fourGiB }] {
            guard let low = group.map(\.address).min(), let high = group.map(\.end).max(), high > low else { continue }
            slots.append((low, high - low))
        }
        return slots
    }

    /// The end of the RAM that starts at 1 MiB (or at 0 when there is none above 1 MiB): the top of
    /// low RAM, below which boot structures and initrds for 32-bit protocols go.
    public var lowRAMEnd: UInt64 {
        let candidates = entries.filter { $0.kind == .ram && $0.address <= Self.highMemoryStart && $0.end > 0 }
        return candidates.map(\.end).max() ?? 0
    }

    /// Whether `[address, address + size)` lies entirely in one RAM entry.
    public func isRAM(_ address: UInt64, size: UInt64) -> Bool {
        // No `address + size`: both may come from a kernel image and could overflow.
        entries.contains { $0.kind == .ram && $0.address <= address && address <= $0.end && size <= $0.end - address }
    }

    /// The highest `alignment`-aligned address at which `size` bytes fit in one RAM entry, wholly
    /// below `limit` and at or above `floor`, and overlapping none of `avoiding`; nil if there is none.
    func highestPlacement(
        size: UInt64, alignment: UInt64, below limit: UInt64, atOrAbove floor: UInt64, avoiding: [Range<UInt64>] = []
    ) -> UInt64? {
        var best: UInt64?
        for entry in entries where entry.kind == .ram {
            var top = min(entry.end, limit)
            while top >= size {
                let start = alignDown(top - size, alignment)
                guard start >= entry.address, start >= floor else { break }
                let range = start..<(start + size)
                if let clash = avoiding.first(where: { $0.overlaps(range) }) {
                    top = clash.lowerBound  // try again below what it would overlap
                    continue
                }
                if best.map({ start > $0 }) ?? true { best = start }
                break
            }
        }
        return best
    }
}
