#if arch(x86_64)
import KVM
import KVMBindings
import Testing
import X86Setup
import TestSupport

@Suite struct PageTableTests {
    static let longMode: (cr4: ControlRegister4, efer: ExtendedFeatureEnable) = (.physicalAddressExtension, [.longModeEnable, .longModeActive])

    static func walk(_ virtual: UInt64, cr3: UInt64, _ memory: GuestMemory) -> UInt64? {
        GuestPageWalk.walk(virtual, cr3: cr3, cr4: longMode.cr4, efer: longMode.efer, memory: memory)
    }

    @Test(arguments: PageSize.allCases)
    func identityMapRoundTrips(pageSize: PageSize) throws {
        let memory = try makeMemory(size: 0x10_0000)
        var tables = try PageTableBuilder(at: 0x8000, maximumTables: 64)
        let size: UInt64 = pageSize == .size4KiB ? 16 << 20 : 4 << 30
        try tables.identityMap(size: size, pageSize: pageSize)
        let cr3 = try tables.write(into: memory)
        #expect(cr3 == 0x8000)
        var generator = SplitMix64(seed: pageSize.rawValue)
        let samples = [0, size - 1, pageSize.rawValue, pageSize.rawValue - 1] + (0 ..< 300).map { _ in
            UInt64.random(in: 0 ..< size, using: &generator)
        }
        for virtual in samples {
            #expect(Self.walk(virtual, cr3: cr3, memory) == virtual, "0x\(String(virtual, radix: 16))")
        }
        #expect(Self.walk(size, cr3: cr3, memory) == nil, "one byte past the map")
        #expect(Self.walk(0xFFFF_FFFF_8000_0000, cr3: cr3, memory) == nil)
        // Table count: 1 PML4 + 1 PDPT (+ PDs + PTs).
        switch pageSize {
        case .size1GiB: #expect(tables.tables.count == 2)
        case .size2MiB: #expect(tables.tables.count == 2 + 4)
        case .size4KiB: #expect(tables.tables.count == 2 + 1 + 8)
        }
    }

    @Test func highHalfKernelMapping() throws {
        let memory = try makeMemory(size: 0x10_0000)
        var tables = try PageTableBuilder(at: 0x1000, maximumTables: 16)
        try tables.identityMap(size: 1 << 30, pageSize: .size1GiB)
        try tables.map(virtual: PageTableBuilder.kernelTextBase, physical: 0x100_0000, size: 8 << 20, pageSize: .size2MiB,
                       flags: [.kernel, .global])
        try tables.map(virtual: PageTableBuilder.directMapBase, physical: 0, size: 2 << 30, pageSize: .size1GiB)
        try tables.map(virtual: 0xFFFF_C900_0000_3000, physical: 0xFEE0_0000, size: 0x1000, pageSize: .size4KiB,
                       flags: [.kernel, .cacheDisable, .noExecute])
        let cr3 = try tables.write(into: memory)
        #expect(Self.walk(PageTableBuilder.kernelTextBase, cr3: cr3, memory) == 0x100_0000)
        #expect(Self.walk(PageTableBuilder.kernelTextBase + 0x7F_FFFF, cr3: cr3, memory) == 0x17F_FFFF)
        #expect(Self.walk(PageTableBuilder.kernelTextBase + 0x80_0000, cr3: cr3, memory) == nil)
        #expect(Self.walk(PageTableBuilder.directMapBase + 0x5432_1000, cr3: cr3, memory) == 0x5432_1000)
        #expect(Self.walk(0xFFFF_C900_0000_3ABC, cr3: cr3, memory) == 0xFEE0_0ABC)
        #expect(Self.walk(0xFFFF_C900_0000_2ABC, cr3: cr3, memory) == nil)
        #expect(Self.walk(0x1234_5678, cr3: cr3, memory) == 0x1234_5678)
        // The leaf carries the caller's flags: XD, PCD, no PS at 4 KiB.
        let pml4 = tables.tables[0]
        #expect(pml4[511] & 0x7 == 0x3 && pml4[0] & 0x4 == 0, "tables present and writable, supervisor only")
        let leaf = tables.tables.last![3]
        #expect(leaf == 0x8000_0000_FEE0_0013)
    }

    @Test func refusesOverlapsMisalignmentAndNonCanonicalRanges() throws {
        var tables = try PageTableBuilder(at: 0x1000, maximumTables: 8)
        try tables.identityMap(size: 4 << 20, pageSize: .size2MiB)
        let before = tables.tables
        #expect(throws: PageTableError.alreadyMapped(0x20_0000)) {
            try tables.map(virtual: 0x20_0000, physical: 0, size: 0x1000, pageSize: .size4KiB)
        }
        #expect(throws: PageTableError.alreadyMapped(0)) {
            try tables.map(virtual: 0, physical: 0, size: 1 << 30, pageSize: .size1GiB)
        }
        #expect(throws: PageTableError.misaligned(virtual: 0x1000, physical: 0, size: 0x20_0000, pageSize: 0x20_0000)) {
            try tables.map(virtual: 0x1000, physical: 0, size: 0x20_0000, pageSize: .size2MiB)
        }
        #expect(throws: PageTableError.nonCanonical(0x0000_8000_0000_0000)) {
            try tables.map(virtual: 0x0000_8000_0000_0000, physical: 0, size: 0x1000, pageSize: .size4KiB)
        }
        #expect(throws: PageTableError.nonCanonical(0x0000_7FFF_FFFF_F000)) {
            try tables.map(virtual: 0x0000_7FFF_FFFF_F000, physical: 0, size: 0x2000, pageSize: .size4KiB)
        }
        #expect(throws: PageTableError.physicalAddressTooLarge(1 << 52)) {
            try tables.map(virtual: 1 << 40, physical: 1 << 52, size: 0x1000, pageSize: .size4KiB)
        }
        // A mapping that runs out of tables half-way changes nothing.
        #expect(throws: PageTableError.tooManyTables(limit: 8)) {
            try tables.map(virtual: 1 << 39, physical: 0, size: 64 << 20, pageSize: .size4KiB)
        }
        #expect(tables.tables == before)
        #expect(throws: PageTableError.misalignedTables(0x1800)) { try PageTableBuilder(at: 0x1800) }
    }

    @Test func walkRejectsTablesOutsideGuestMemory() throws {
        let memory = try makeMemory(size: 0x4000)
        // PML4 at 0x1000: entry 0 → a PDPT beyond the end of memory; entry 1 → PDPT at 0x2000 whose
        // entry 0 → a page directory far outside; entry 2 → a huge page at an address out of RAM
        // (translation is still fine: it may be MMIO).
        try memory.store(UInt64(0x10_0000 | 0x3), at: 0x1000)
        try memory.store(UInt64(0x2000 | 0x3), at: 0x1008)
        try memory.store(UInt64(0xFFFF_F000 | 0x3), at: 0x2000)
        try memory.store(UInt64(0x4000_0000 | 0x83), at: 0x2008)
        try memory.store(UInt64(0x3000 | 0x2), at: 0x2010)  // not present
        #expect(Self.walk(0x1234, cr3: 0x1000, memory) == nil)
        #expect(Self.walk(1 << 39, cr3: 0x1000, memory) == nil)
        #expect(Self.walk(1 << 39 | 1 << 30 | 0x42, cr3: 0x1000, memory) == 0x4000_0042)
        #expect(Self.walk(1 << 39 | 2 << 30, cr3: 0x1000, memory) == nil)
        #expect(Self.walk(0, cr3: 0xFFFF_0000, memory) == nil, "CR3 outside memory")
    }

    @Test func walksLegacyAndPAEPaging() throws {
        let memory = try makeMemory(size: 0x10000)
        // 32-bit paging: PD at 0x1000, PDE 1 → PT at 0x2000, PTE 3 → 0x5000; PDE 2 a 4 MiB page (PSE).
        try memory.store(UInt32(0x2000 | 0x3), at: 0x1004)
        try memory.store(UInt32(0x5000 | 0x3), at: GuestAddress(0x2000 + 3 * 4))
        try memory.store(UInt32(0x0C00_0000 | 0x83), at: 0x1008)
        let virtual: UInt64 = 1 << 22 | 3 << 12 | 0x123
        #expect(GuestPageWalk.walk(virtual, cr3: 0x1000, cr4: [], efer: [], memory: memory) == 0x5123)
        #expect(GuestPageWalk.walk(2 << 22 | 0x1234, cr3: 0x1000, cr4: .pageSizeExtensions, efer: [], memory: memory) == 0x0C00_1234)
        // PAE: PDPT at 0x3000 (entry 0 → PD 0x4000), PD entry 1 a 2 MiB page at 0x60_0000.
        try memory.store(UInt64(0x4000 | 0x1), at: 0x3000)
        try memory.store(UInt64(0x60_0000 | 0x83), at: 0x4008)
        #expect(GuestPageWalk.walk(0x20_0042, cr3: 0x3000, cr4: .physicalAddressExtension, efer: [], memory: memory) == 0x60_0042)
        // Paging off: linear = physical (32 bits).
        var special = KVMSRegs()
        special.cr0 = ControlRegister0.protectionEnable.rawValue
        #expect(GuestPageWalk.translate(0x1_0000_1234, special: special, memory: memory) == 0x1234)
    }

    @Test func readsAndWritesThroughTheTables() throws {
        let memory = try makeMemory(size: 0x40_0000)
        var tables = try PageTableBuilder(at: 0x1000, maximumTables: 8)
        // Two virtual pages, adjacent, mapped to physical pages in reverse order.
        try tables.map(virtual: 0xFFFF_FFFF_8000_0000, physical: 0x11000, size: 0x1000, pageSize: .size4KiB)
        try tables.map(virtual: 0xFFFF_FFFF_8000_1000, physical: 0x10000, size: 0x1000, pageSize: .size4KiB)
        var special = LinuxBootGDT.longModeEntry(gdt: 0x500, idt: 0x540, cr3: try tables.write(into: memory)).applied(to: KVMSRegs())
        special.cr0 |= ControlRegister0.paging.rawValue
        let bytes = (0 ..< 32).map { UInt8($0) }
        #expect(GuestPageWalk.write(bytes, at: 0xFFFF_FFFF_8000_0FF0, special: special, memory: memory))
        #expect(try memory.readBytes(at: 0x11FF0, count: 16) == Array(bytes[0 ..< 16]))
        #expect(try memory.readBytes(at: 0x10000, count: 16) == Array(bytes[16 ..< 32]))
        #expect(GuestPageWalk.read(0xFFFF_FFFF_8000_0FF0, count: 32, special: special, memory: memory) == bytes)
        // Reading stops at the first unmapped byte; writing there fails.
        #expect(GuestPageWalk.read(0xFFFF_FFFF_8000_1FF8, count: 32, special: special, memory: memory).count == 8)
        #expect(!GuestPageWalk.write([1], at: 0xFFFF_FFFF_8000_2000, special: special, memory: memory))
    }
}
#endif
