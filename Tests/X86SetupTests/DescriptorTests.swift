#if arch(x86_64)
import KVMBindings
import Testing
import X86Setup
import TestSupport

@Suite struct DescriptorTests {
    @Test func flatSegmentsHaveTheirKnownEncodings() {
        #expect(SegmentDescriptor.flatCode64().encoded == 0x00AF_9B00_0000_FFFF)
        #expect(SegmentDescriptor.flatCode32().encoded == 0x00CF_9B00_0000_FFFF)
        #expect(SegmentDescriptor.flatData().encoded == 0x00CF_9300_0000_FFFF)
        #expect(SegmentDescriptor.flatCode64(privilegeLevel: 3).encoded == 0x00AF_FB00_0000_FFFF)
        #expect(SegmentDescriptor.flatData(privilegeLevel: 3).encoded == 0x00CF_F300_0000_FFFF)
        // Linux's GDT_ENTRY(flags, base, limit) form gives the same descriptors.
        #expect(SegmentDescriptor(flags: 0xA09B, base: 0, limit: 0xFFFFF) == .flatCode64())
        #expect(SegmentDescriptor(flags: 0xC09B, base: 0, limit: 0xFFFFF) == .flatCode32())
        #expect(SegmentDescriptor(flags: 0xC093, base: 0, limit: 0xFFFFF) == .flatData())
    }

    @Test func segmentDescriptorsRoundTrip() {
        var generator = SplitMix64(seed: 0xDE5C)
        for _ in 0 ..< 1000 {
            let value = generator.next()
            #expect(SegmentDescriptor(encoded: value).encoded == value)
        }
        let odd = SegmentDescriptor(encoded: 0x12_3456_789A_BCDE)
        #expect(odd.base == 0x56_789A && odd.limit == 0x2_BCDE && odd.type == 0x4 && odd.available)
    }

    @Test func kvmSegmentFromADescriptor() {
        let segment = SegmentDescriptor.flatCode64().segment(selector: 0x10)
        #expect(segment.selector == 0x10 && segment.base == 0 && segment.limit == 0xFFFF_FFFF)
        #expect(segment.type == 0xB && segment.s == 1 && segment.present == 1 && segment.l == 1 && segment.db == 0)
        #expect(segment.g == 1 && segment.dpl == 0 && segment.avl == 0)
        let small = SegmentDescriptor(base: 0x1000, limit: 0xFFFF, type: 0x3).segment(selector: 0x18)
        #expect(small.limit == 0xFFFF && small.g == 0 && small.base == 0x1000)
    }

    @Test func taskStateDescriptorTakesTwoSlots() {
        let tss = SystemSegmentDescriptor.taskState(base: 0xFFFF_8880_1234_5600)
        let (low, high) = tss.encoded
        #expect(low == 0x1200_8934_5600_0067)
        #expect(high == 0xFFFF_8880)
        #expect(SystemSegmentDescriptor(low: low, high: high) == tss)
        let segment = tss.busy.segment(selector: 0x28)
        #expect(segment.type == 0xB && segment.s == 0 && segment.base == 0xFFFF_8880_1234_5600 && segment.limit == 103)
    }

    @Test func interruptGatesEncodeAndDecode() {
        let gate = GateDescriptor.interrupt(handler: 0xFFFF_FFFF_8123_4567, selector: 0x10, interruptStackTable: 1)
        let (low, high) = gate.encoded
        #expect(low == 0x8123_8E01_0010_4567)
        #expect(high == 0xFFFF_FFFF)
        #expect(GateDescriptor(low: low, high: high) == gate)
        let trap = GateDescriptor.trap(handler: 0x1000, selector: 0x08, privilegeLevel: 3)
        #expect(trap.encoded.low == 0x0000_EF00_0008_1000)

        var idt = InterruptDescriptorTable()
        #expect(idt.limit == 0 && idt.bytes.isEmpty)
        idt[3] = trap
        #expect(idt.limit == 4 * 16 - 1)
        #expect(idt.bytes.count == 64 && idt.bytes[0 ..< 48].allSatisfy { $0 == 0 })
        #expect(idt[3] == trap && idt[2] == nil && idt[200] == nil)
    }

    @Test func gdtBuilderAssignsSelectors() {
        var gdt = GlobalDescriptorTable()
        let code = gdt.append(.flatCode64())
        let userData = gdt.append(.flatData(privilegeLevel: 3))
        let taskState = gdt.append(.taskState(base: 0x600))
        let skipped = gdt.skip(to: 0x30)
        let skippedBack = gdt.skip(to: 0x10)
        let code32 = gdt.append(.flatCode32())
        #expect(code == 0x08)
        #expect(userData == 0x13, "RPL follows DPL")
        #expect(taskState == 0x18)
        #expect(skipped)
        #expect(!skippedBack, "slot already taken")
        #expect(code32 == 0x30)
        #expect(gdt.limit == 7 * 8 - 1)
        let decoded = GlobalDescriptorTable(bytes: gdt.bytes)
        #expect(decoded == gdt)
        #expect(decoded.descriptor(for: 0x08) == .flatCode64())
        #expect(decoded.descriptor(for: 0x13) == .flatData(privilegeLevel: 3))
        #expect(decoded.systemDescriptor(for: 0x18) == .taskState(base: 0x600))
        #expect(decoded.descriptor(for: 0x18) == nil, "a system descriptor is not a code/data one")
        #expect(decoded.descriptor(for: 0) == nil && decoded.descriptor(for: 0x100) == nil)
    }

    @Test func linuxBootGDTMatchesTheBootProtocol() {
        let table = LinuxBootGDT.table
        #expect(table.slots == [0, 0x00CF_9B00_0000_FFFF, 0x00AF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF, 0x0000_8B00_0000_0067, 0])
        #expect(table.limit == 0x2F)
        let long = LinuxBootGDT.longModeEntry(gdt: 0x500, idt: 0x540, cr3: 0x9000).applied(to: KVMSRegs())
        #expect(long.cs.selector == 0x10 && long.cs.l == 1 && long.ds.selector == 0x18 && long.tr.selector == 0x20)
        #expect(long.cr0 == 0x8000_0011 && long.cr4 == 0x20 && long.efer == 0x500 && long.cr3 == 0x9000)
        #expect(long.gdt.base == 0x500 && long.gdt.limit == 0x2F && long.idt.base == 0x540 && long.idt.limit == 0)
        let flat = LinuxBootGDT.protectedModeEntry(gdt: 0x500, idt: 0x540).applied(to: KVMSRegs())
        #expect(flat.cs.selector == 0x08 && flat.cs.db == 1 && flat.cs.l == 0 && flat.ss.selector == 0x18)
        #expect(flat.cr0 == 0x11 && flat.cr4 == 0 && flat.efer == 0 && flat.cr3 == 0)
    }

    @Test func entryRegisters() {
        let registers = EntryState.registers(rip: 0x100_0000, rsp: 0x8FF0) { $0.rsi = 0x7000 }
        #expect(registers.rip == 0x100_0000 && registers.rsp == 0x8FF0 && registers.rflags == 2 && registers.rsi == 0x7000)
    }
}
#endif
