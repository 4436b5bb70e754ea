#if arch(x86_64)
import KVM
import KVMBindings
import Testing
import X86Setup
import TestSupport

@Suite struct LongModeSetupTests {
    static func walk(_ virtual: UInt64, _ result: LongModeSetup.Result, _ memory: GuestMemory) -> UInt64? {
        let entry = result.kernelEntry
        return GuestPageWalk.walk(virtual, cr3: entry.cr3, cr4: entry.cr4, efer: entry.efer, memory: memory)
    }

    @Test func identityMapsTheFirstGibibyte() throws {
        let memory = try makeMemory(size: 0x10000)
        let setup = try LongModeSetup.write(into: memory)
        var generator = SplitMix64(seed: 0x9A6E)
        let samples: [UInt64] = [0, 0x1F_FFFF, 0x20_0000, (1 << 30) - 1] + (0 ..< 500).map { _ in
            UInt64.random(in: 0 ..< (1 << 30), using: &generator)
        }
        for virtual in samples {
            #expect(Self.walk(virtual, setup, memory) == virtual, "virtual 0x\(String(virtual, radix: 16))")
        }
        for virtual in [1 << 30, 1 << 39, 0xFFFF_8000_0000_0000] as [UInt64] {
            #expect(Self.walk(virtual, setup, memory) == nil)
        }
        // PML4, PDPT, one page directory.
        #expect(setup.pageTablesEnd == 0x4000)
        // Every level is user-accessible.
        let pml4e = try memory.load(UInt64.self, at: 0x1000)
        let pdpte = try memory.load(UInt64.self, at: 0x2000)
        let pde = try memory.load(UInt64.self, at: GuestAddress(0x3000 + 5 * 8))
        #expect(pml4e == 0x2007 && pdpte == 0x3007 && pde == 5 << 21 | 0x87)
    }

    @Test func supervisorOnlyMappingWhenAsked() throws {
        let memory = try makeMemory(size: 0x10000)
        _ = try LongModeSetup.write(into: memory, layout: .init(userAccessible: false))
        #expect(try memory.load(UInt64.self, at: 0x1000) == 0x2003)
        #expect(try memory.load(UInt64.self, at: 0x3000) == 0x83)
    }

    @Test func writesTheGDTAndTSS() throws {
        let memory = try makeMemory(size: 0x10000)
        let setup = try LongModeSetup.write(into: memory, layout: .init(kernelStackTop: 0x7000))
        let entries = try (0 ..< 7).map { try memory.load(UInt64.self, at: GuestAddress(0x500 + UInt64($0) * 8)) }
        #expect(entries == [
            0,
            0x00AF_9B00_0000_FFFF,  // 64-bit code, DPL 0, accessed
            0x00CF_9300_0000_FFFF,  // data, DPL 0
            0x00CF_F300_0000_FFFF,  // data, DPL 3
            0x00AF_FB00_0000_FFFF,  // 64-bit code, DPL 3
            0x0000_8900_0600_0067,  // available 64-bit TSS at 0x600, limit 103
            0,                      // TSS base bits 63:32
        ])
        let kernel = setup.kernelEntry, user = setup.userEntry
        #expect(kernel.gdt == DescriptorTableRegister(base: 0x500, limit: 7 * 8 - 1))
        #expect(kernel.code.selector == 0x08 && kernel.data.selector == 0x10)
        #expect(user.data.selector == 0x1B && user.code.selector == 0x23)
        #expect(kernel.taskState?.selector == 0x28)
        #expect(kernel.taskState?.kvmSegment.type == 0xB, "TR holds the busy TSS")
        #expect(kernel.taskState?.kvmSegment.base == 0x600)
        #expect(kernel.code.kvmSegment.limit == 0xFFFF_FFFF)
        let tss = TaskStateSegment(bytes: try memory.readBytes(at: 0x600, count: 104))
        #expect(tss?.privilegeStacks == [0x7000, 0, 0])
        #expect(tss?.ioMapBase == 104, "no I/O bitmap")
    }

    @Test func controlRegisters() throws {
        let memory = try makeMemory(size: 0x10000)
        let setup = try LongModeSetup.write(into: memory, layout: .init(pageTables: 0x4000))
        #expect(setup.kernelEntry.cr3 == 0x4000)
        #expect(setup.kernelEntry.cr0.rawValue == 0x8001_0033)
        #expect(setup.kernelEntry.cr4.rawValue == 0x20)
        #expect(setup.kernelEntry.efer.rawValue == 0x500)
    }

    @Test func appliesTheEntryStateToSpecialRegisters() throws {
        let memory = try makeMemory(size: 0x10000)
        let setup = try LongModeSetup.write(into: memory)
        var before = KVMSRegs()
        before.apicBase = 0xFEE0_0900
        let special = setup.userEntry.applied(to: before)
        #expect(special.apicBase == 0xFEE0_0900, "fields the entry state does not set are kept")
        #expect(special.cs.selector == 0x23 && special.cs.dpl == 3 && special.cs.l == 1 && special.cs.db == 0)
        #expect(special.ss.selector == 0x1B && special.ds.selector == 0x1B && special.gs.dpl == 3 && special.fs.db == 1)
        #expect(special.tr.selector == 0x28 && special.tr.type == 0xB && special.tr.s == 0 && special.tr.limit == 103)
        #expect(special.gdt.base == 0x500 && special.gdt.limit == 55 && special.idt.limit == 0)
        #expect(special.cr0 == 0x8001_0033 && special.cr3 == 0x1000 && special.efer == 0x500)
    }

    @Test func rejectsBadLayouts() throws {
        let memory = try makeMemory(size: 0x10000)
        #expect(throws: PageTableError.misalignedTables(0x1800)) {
            try LongModeSetup.write(into: memory, layout: .init(pageTables: 0x1800))
        }
        let small = try makeMemory(size: 0x2000)
        #expect(throws: GuestMemoryError.self) { try LongModeSetup.write(into: small) }
    }
}
#endif
