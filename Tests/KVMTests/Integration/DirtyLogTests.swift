import KVM
import X86Assembler
import KVMBindings
import Testing

extension IntegrationTests {
    /// Scenario 3b: dirty logging. The guest's code runs from slot 0 and writes nothing but the
    /// pages under test (no stack, no data), so the logged slot's bitmap is exactly those pages.
    @Suite struct DirtyLog {
        static let firstCode: UInt64 = 0x1000
        static let secondCode: UInt64 = 0x2000
        static let loggedBase: UInt64 = 0x2_0000
        static let loggedPages = 8

        @Test func reportsExactlyThePagesTheGuestWrote() throws {
            let machine = try TestMachine(memorySize: 0x1_0000) { vm in
                try vm.mapMemory(
                    slot: 1, at: GuestAddress(Self.loggedBase), size: Self.loggedPages * 4096, flags: .logDirtyPages)
            }
            // DS points at the logged slot, so [offset] is loggedBase + offset.
            var first = RealModeCode(origin: Self.firstCode)
            first.storeByte(0x11, at: 0x1005)           // page 1
            first.load(.al, from: 0x2000)               // page 2: read only
            first.storeWord(0x3333, at: 0x3010)         // page 3
            first.storeByte(0x77, at: 0x7FFF)           // page 7, last byte of the slot
            first.hlt()
            var second = RealModeCode(origin: Self.secondCode)
            second.storeByte(0x55, at: 0x5000)          // page 5, twice
            second.storeByte(0x56, at: 0x5001)
            second.storeByte(0x01, at: 0x0000)          // page 0
            second.hlt()
            try machine.load(first.assemble(), at: Self.firstCode)
            try machine.load(second.assemble(), at: Self.secondCode)

            #expect(Array(try machine.vm.dirtyLog(slot: 1).dirtyPages) == [], "clean before the guest runs")

            try machine.enterRealMode(rip: Self.firstCode)
            try pointDataSegmentAtLoggedSlot(machine.vcpu)
            try machine.runExpectingHalt()
            let log = try machine.vm.dirtyLog(slot: 1)
            #expect(Array(log.dirtyPages) == [1, 3, 7])
            #expect(try machine.vm.dirtyLog(slot: 1).isEmpty, "reading the log cleared it")
            #expect(try machine.memory.load(UInt8.self, at: GuestAddress(Self.loggedBase + 0x1005)) == 0x11)
            #expect(try machine.memory.load(UInt16.self, at: GuestAddress(Self.loggedBase + 0x3010)) == 0x3333)
            #expect(try machine.memory.load(UInt8.self, at: GuestAddress(Self.loggedBase + 0x7FFF)) == 0x77)

            // A second round writes other pages: only those are reported.
            var registers = try machine.vcpu.registers()
            registers.rip = Self.secondCode
            try machine.vcpu.setRegisters(registers)
            try machine.runExpectingHalt()
            #expect(Array(try machine.vm.dirtyLog(slot: 1).dirtyPages) == [0, 5])
            #expect(try machine.memory.load(UInt16.self, at: GuestAddress(Self.loggedBase + 0x5000)) == 0x5655)
        }

        /// The same at CPL3, which PVM runs natively: the writes go through the shadow page tables,
        /// which dirty logging must write-protect (again after each read of the log).
        @Test func reportsExactlyThePagesRingThreeWrote() throws {
            let loggedBase: UInt64 = 0x20_0000
            let codeAddress: UInt64 = 0x9000
            let machine = try TestMachine(memorySize: 0x10_0000) { vm in
                try vm.mapMemory(slot: 1, at: GuestAddress(loggedBase), size: Self.loggedPages * 4096, flags: .logDirtyPages)
            }
            // rbx walks the pages to write; each round ends with an MMIO write (no memory written).
            var code = LongModeCode(origin: codeAddress)
            code.movabs(.rcx, 0x1000_0000)
            for page: UInt64 in [1, 3, 7] {
                code.movabs(.rbx, loggedBase + page * 4096 + 8 * page)
                code.mov(.eax, UInt32(0xA0 + page))
                code.store(.rax, at: .rbx)
            }
            code.movabs(.rbx, loggedBase + 2 * 4096)
            code.load(.rax, from: .rbx)                 // page 2: read only
            code.store(.rax, at: .rcx)                  // MMIO: end of round 1
            code.movabs(.rbx, loggedBase + 1 * 4096)
            code.store(.rax, at: .rbx)                  // page 1 again
            code.store(.rax, at: .rcx)                  // MMIO: end of round 2
            let spin = code.here()
            code.jmp(spin)
            try machine.load(code.assemble(), at: codeAddress)
            try machine.enterLongMode(rip: codeAddress, rsp: 0, user: true)

            let first = try machine.runExpectingMMIO("(end of round 1)")
            #expect(first.isWrite && first.address == 0x1000_0000)
            #expect(Array(try machine.vm.dirtyLog(slot: 1).dirtyPages) == [1, 3, 7])
            #expect(try machine.memory.load(UInt64.self, at: GuestAddress(loggedBase + 7 * 4096 + 56)) == 0xA7)
            let second = try machine.runExpectingMMIO("(end of round 2)")
            #expect(second.isWrite)
            #expect(try machine.vcpu.specialRegisters().cs.selector & 3 == 3, "ring 3 did the writes")
            #expect(Array(try machine.vm.dirtyLog(slot: 1).dirtyPages) == [1], "a rewrite after the read is logged again")
        }

        func pointDataSegmentAtLoggedSlot(_ vcpu: VCPU) throws {
            var special = try vcpu.specialRegisters()
            special.ds.base = Self.loggedBase
            special.ds.selector = UInt16(Self.loggedBase >> 4)
            try vcpu.setSpecialRegisters(special)
        }
    }
}
