import Testing
import KVM

@Suite struct GuestMemoryLayoutTests {
    let page = UInt64(GuestMemoryRegion.pageSize)

    func region(slot: UInt32, base: UInt64, pages: Int = 1, flags: GuestMemoryRegion.Flags = []) throws -> GuestMemoryRegion {
        try GuestMemoryRegion(
            slot: slot, guestBase: GuestAddress(base),
            mapping: try MemoryMapping(byteCount: pages * Int(page)), flags: flags)
    }

    @Test func regionProperties() throws {
        let r = try region(slot: 3, base: 0x10_0000, pages: 2, flags: [.logDirtyPages, .readOnly])
        #expect(r.slot == 3)
        #expect(r.size == 2 * page)
        #expect(r.lastAddress == GuestAddress(0x10_0000 + 2 * page - 1))
        #expect(r.hostAddress == r.mapping.hostAddress)
        #expect(r.flags.contains(.logDirtyPages) && r.flags.contains(.readOnly))
        #expect(r.contains(0x10_0000) && r.contains(r.lastAddress))
        #expect(!r.contains(0xF_FFFF) && !r.contains(GuestAddress(0x10_0000 + 2 * page)))
    }

    @Test func flagsUseKVMBits() {
        // KVM_MEM_LOG_DIRTY_PAGES and KVM_MEM_READONLY.
        #expect(GuestMemoryRegion.Flags.logDirtyPages.rawValue == 1 << 0)
        #expect(GuestMemoryRegion.Flags.readOnly.rawValue == 1 << 1)
    }

    @Test func regionMayEndExactlyAtTopOfAddressSpace() throws {
        let r = try region(slot: 0, base: UInt64.max - page + 1)
        #expect(r.lastAddress == GuestAddress(UInt64.max))
    }

    @Test func rejectsRegionPastTopOfAddressSpace() throws {
        let base = GuestAddress(UInt64.max - page + 1)
        #expect(throws: GuestMemoryError.rangeOverflow(start: base, length: 2 * page)) {
            try region(slot: 0, base: base.rawValue, pages: 2)
        }
    }

    @Test func rejectsMisalignedBase() {
        #expect(throws: GuestMemoryError.misalignedRegion(0x1001)) {
            try region(slot: 0, base: 0x1001)
        }
    }

    @Test func rejectsOverlapAndDuplicateSlots() throws {
        var memory = GuestMemory()
        try memory.insert(try region(slot: 0, base: 0x4000, pages: 2))
        #expect(throws: GuestMemoryError.overlappingRegions(existing: 0x4000, new: 0x5000)) {
            try memory.insert(try region(slot: 1, base: 0x5000))
        }
        #expect(throws: GuestMemoryError.overlappingRegions(existing: 0x4000, new: 0x3000)) {
            try memory.insert(try region(slot: 1, base: 0x3000, pages: 2))
        }
        #expect(throws: GuestMemoryError.overlappingRegions(existing: 0x4000, new: 0x4000)) {
            try memory.insert(try region(slot: 1, base: 0x4000))
        }
        #expect(throws: GuestMemoryError.overlappingRegions(existing: 0x4000, new: 0x2000)) {
            try memory.insert(try region(slot: 1, base: 0x2000, pages: 8))
        }
        #expect(throws: GuestMemoryError.duplicateSlot(0)) {
            try memory.insert(try region(slot: 0, base: 0x10000))
        }
        // Adjacent on both sides is fine.
        try memory.insert(try region(slot: 1, base: 0x3000))
        try memory.insert(try region(slot: 2, base: 0x6000))
        #expect(memory.regions.map(\.guestBase) == [0x3000, 0x4000, 0x6000])
    }

    @Test func sortsRegionsAndLooksUpByAddress() throws {
        let memory = try GuestMemory(regions: [
            try region(slot: 2, base: 0x20000),
            try region(slot: 0, base: 0x0),
            try region(slot: 1, base: 0x10000, pages: 4),
        ])
        #expect(memory.regions.map(\.slot) == [0, 1, 2])
        #expect(memory.region(containing: 0)?.slot == 0)
        #expect(memory.region(containing: 0xFFF)?.slot == 0)
        #expect(memory.region(containing: 0x1000) == nil)
        #expect(memory.region(containing: 0x13FFF)?.slot == 1)
        #expect(memory.region(containing: 0x14000) == nil)
        #expect(memory.region(containing: 0x20800)?.slot == 2)
        #expect(memory.region(containing: GuestAddress(UInt64.max)) == nil)
    }

    @Test func removesRegions() throws {
        var memory = try GuestMemory(regions: [try region(slot: 5, base: 0), try region(slot: 6, base: 0x1000)])
        #expect(memory.region(slot: 6)?.guestBase == 0x1000)
        #expect(memory.region(slot: 7) == nil)
        #expect(memory.removeRegion(slot: 5)?.guestBase == 0)
        #expect(memory.removeRegion(slot: 5) == nil)
        #expect(memory.region(containing: 0) == nil)
        #expect(memory.region(containing: 0x1000)?.slot == 6)
        // The slot and range can be reused.
        try memory.insert(try region(slot: 5, base: 0))
    }

    @Test func emptyMemoryRejectsAccessButAllowsEmptyOnes() throws {
        let memory = GuestMemory()
        #expect(throws: GuestMemoryError.addressNotMapped(0x1000)) {
            try memory.readBytes(at: 0x1000, count: 1)
        }
        #expect(try memory.readBytes(at: 0x1000, count: 0) == [])
        try memory.write(bytes: [], at: GuestAddress(UInt64.max))
    }
}
