import Testing
import KVM

@Suite struct LongModeSetupTests {
    /// Walks 4-level paging the way the MMU does (2 MiB leaves only, which is all the setup
    /// writes). Returns the physical address and whether user mode may access it.
    static func translate(_ virtual: UInt64, cr3: UInt64, in memory: FlatGuestMemory) -> (UInt64, user: Bool)? {
        let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000
        guard let pml4e = memory.load64(at: (cr3 & addressMask) + ((virtual >> 39) & 511) * 8),
              pml4e & LongModeSetup.pagePresent != 0,
              let pdpte = memory.load64(at: (pml4e & addressMask) + ((virtual >> 30) & 511) * 8),
              pdpte & LongModeSetup.pagePresent != 0, pdpte & LongModeSetup.pageLarge == 0,
              let pde = memory.load64(at: (pdpte & addressMask) + ((virtual >> 21) & 511) * 8),
              pde & LongModeSetup.pagePresent != 0, pde & LongModeSetup.pageLarge != 0
        else { return nil }
        let user = pml4e & pdpte & pde & LongModeSetup.pageUser != 0
        return ((pde & 0x000F_FFFF_FFE0_0000) | (virtual & 0x1F_FFFF), user)
    }

    @Test func identityMapsTheFirstGibibyte() throws {
        var memory = FlatGuestMemory(size: 0x10000)
        let registers = try LongModeSetup.write(into: &memory)
        var generator = SplitMix64(seed: propertyTestSeed ^ 0x9A6E)
        let samples: [UInt64] = [0, 0x1F_FFFF, 0x20_0000, (1 << 30) - 1] + (0 ..< 500).map { _ in
            UInt64.random(in: 0 ..< (1 << 30), using: &generator)
        }
        for virtual in samples {
            let translated = Self.translate(virtual, cr3: registers.cr3, in: memory)
            #expect(translated?.0 == virtual, "virtual 0x\(String(virtual, radix: 16))")
            #expect(translated?.user == true)
        }
        for virtual in [1 << 30, 1 << 39, 0xFFFF_8000_0000_0000] as [UInt64] {
            #expect(Self.translate(virtual, cr3: registers.cr3, in: memory) == nil)
        }
    }

    @Test func supervisorOnlyMappingWhenAsked() throws {
        var memory = FlatGuestMemory(size: 0x10000)
        let registers = try LongModeSetup.write(into: &memory, layout: .init(userAccessible: false))
        #expect(Self.translate(0x1234, cr3: registers.cr3, in: memory)?.user == false)
    }

    @Test func writesTheGDT() throws {
        var memory = FlatGuestMemory(size: 0x10000)
        let registers = try LongModeSetup.write(into: &memory)
        let entries = (0 ..< 7).map { memory.load64(at: 0x500 + UInt64($0) * 8) }
        #expect(entries == [
            0,
            0x00AF_9B00_0000_FFFF,  // 64-bit code, DPL 0, accessed
            0x00CF_9300_0000_FFFF,  // data, DPL 0
            0x00CF_F300_0000_FFFF,  // data, DPL 3
            0x00AF_FB00_0000_FFFF,  // 64-bit code, DPL 3
            0x0000_8900_0600_0067,  // available 64-bit TSS at 0x600, limit 103
            0,                      // TSS base bits 63:32
        ])
        #expect(registers.gdtBase == 0x500)
        #expect(registers.gdtLimit == 7 * 8 - 1)
        #expect(registers.kernelCode.selector == 0x08 && registers.kernelData.selector == 0x10)
        #expect(registers.userData.selector == 0x1B && registers.userCode.selector == 0x23)
        #expect(registers.taskState.selector == 0x28)
        #expect(registers.taskState.descriptor.type == 0xB)
        #expect(registers.taskState.descriptor.base == 0x600)
        #expect(registers.kernelCode.descriptor.byteLimit == 0xFFFF_FFFF)
        // The TSS has no I/O bitmap.
        #expect(memory.bytes[0x600 + 102] == 104 && memory.bytes[0x600 + 103] == 0)
    }

    @Test func controlRegisters() throws {
        var memory = FlatGuestMemory(size: 0x10000)
        let registers = try LongModeSetup.write(into: &memory, layout: .init(pageTables: 0x4000))
        #expect(registers.cr3 == 0x4000)
        #expect(registers.cr0 == 0x8001_0033)
        #expect(registers.cr4 == 0x20)
        #expect(registers.efer == 0x500)
    }

    @Test func writesIntoGuestMemoryToo() throws {
        var guest = try GuestMemory(regions: [
            GuestMemoryRegion(slot: 0, guestBase: 0, mapping: MemoryMapping(byteCount: 0x10000)),
        ])
        var flat = FlatGuestMemory(size: 0x10000)
        let fromGuest = try LongModeSetup.write(into: &guest)
        let fromFlat = try LongModeSetup.write(into: &flat)
        #expect(fromGuest == fromFlat)
        #expect(try guest.readBytes(at: 0, count: 0x10000) == flat.bytes)
    }

    @Test func rejectsBadLayouts() {
        var memory = FlatGuestMemory(size: 0x10000)
        #expect(throws: LongModeSetup.SetupError.misalignedPageTables(0x1800)) {
            try LongModeSetup.write(into: &memory, layout: .init(pageTables: 0x1800))
        }
        var small = FlatGuestMemory(size: 0x2000)
        #expect(throws: GuestMemoryError.addressNotMapped(0x2000)) {
            try LongModeSetup.write(into: &small)
        }
    }

    @Test func descriptorsRoundTrip() {
        var generator = SplitMix64(seed: propertyTestSeed ^ 0xDE5C)
        for _ in 0 ..< 1000 {
            let value = generator.next()
            #expect(SegmentDescriptor(encoded: value).encoded == value)
        }
    }
}
