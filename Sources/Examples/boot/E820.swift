// The guest-physical memory map: which ranges are RAM, which are reserved (the EBDA, the BIOS area
// where the ACPI tables live) and where the hole below 4 GiB for the IOAPIC and LAPIC sits. The same
// map feeds the zero page's e820 table (bzImage) and start_info's memmap (PVH).

/// One e820 entry: `size` bytes from `address`, of `type`.
struct E820Entry: Equatable, CustomStringConvertible {
    enum Kind: UInt32 { case ram = 1, reserved = 2, acpi = 3, nvs = 4, unusable = 5 }
    var address: UInt64
    var size: UInt64
    var kind: Kind

    var end: UInt64 { address + size }
    var description: String { "[\(hex(address, digits: 9))-\(hex(end - 1, digits: 9))] \(kind)" }
}

/// The guest's RAM and the standard PC holes.
struct MemoryMap {
    /// Conventional memory ends at the EBDA, just below 640 KiB.
    static let ebdaStart: UInt64 = 0x9_FC00
    static let conventionalEnd: UInt64 = 0xA_0000
    /// The BIOS area (0xE0000-0xFFFFF): the ACPI tables go here, where Linux also scans for the RSDP.
    static let biosAreaStart: UInt64 = 0xE_0000
    static let highMemoryStart: UInt64 = 0x10_0000
    /// RAM above this goes above 4 GiB, leaving a hole for the IOAPIC (0xFEC00000) and LAPICs (0xFEE00000).
    static let lowMemoryLimit: UInt64 = 0xC000_0000
    static let fourGiB: UInt64 = 0x1_0000_0000

    /// Guest RAM in bytes (what `--memory` asked for).
    let ramSize: UInt64

    init(ramSize: UInt64) { self.ramSize = ramSize }

    /// RAM below the hole: from 0 to here (exclusive).
    var lowRAMEnd: UInt64 { min(ramSize, Self.lowMemoryLimit) }
    /// RAM moved above 4 GiB (0 when it all fits below the hole).
    var highRAMSize: UInt64 { ramSize > Self.lowMemoryLimit ? ramSize - Self.lowMemoryLimit : 0 }

    /// The KVM memory slots: (guest address, size).
    var slots: [(address: UInt64, size: UInt64)] {
        var slots = [(address: UInt64(0), size: lowRAMEnd)]
        if highRAMSize > 0 { slots.append((Self.fourGiB, highRAMSize)) }
        return slots
    }

    /// The e820 entries, sorted, non-overlapping.
    var entries: [E820Entry] {
        var entries = [
            E820Entry(address: 0, size: Self.ebdaStart, kind: .ram),
            E820Entry(address: Self.ebdaStart, size: Self.conventionalEnd - Self.ebdaStart, kind: .reserved),
            E820Entry(address: Self.biosAreaStart, size: Self.highMemoryStart - Self.biosAreaStart, kind: .reserved),
        ]
        if lowRAMEnd > Self.highMemoryStart {
            entries.append(E820Entry(address: Self.highMemoryStart, size: lowRAMEnd - Self.highMemoryStart, kind: .ram))
        }
        if highRAMSize > 0 { entries.append(E820Entry(address: Self.fourGiB, size: highRAMSize, kind: .ram)) }
        return entries
    }

    /// Whether `[address, address + size)` lies entirely in one RAM entry.
    func isRAM(_ address: UInt64, size: UInt64) -> Bool {
        // No `address + size`: both come from kernel files and could overflow.
        entries.contains { $0.kind == .ram && $0.address <= address && address <= $0.end && size <= $0.end - address }
    }
}
