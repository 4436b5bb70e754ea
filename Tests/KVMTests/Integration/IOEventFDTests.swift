import KVM
import X86Assembler
import KVMBindings
import Testing

extension IntegrationTests {
    /// Scenario 8a: ioeventfd. Guest writes to a registered port (or MMIO address) do not exit; the
    /// kernel increments the eventfd's counter instead. With datamatch only the matching value does;
    /// after unregistering, the port exits again.
    @Suite struct IOEventFDs {
        static let codeAddress: UInt64 = 0x1000
        static let doorbell: UInt16 = 0x600
        static let matchedDoorbell: UInt16 = 0x602
        static let syncPort: UInt8 = 0x80
        /// No slot backs it: MMIO. Reached through DS = mmioBase >> 4.
        static let mmioBase: UInt64 = 0x3_0000
        static let mmioDoorbellOffset: UInt16 = 0x40

        @Test func doorbellWritesSignalTheEventFDWithoutExiting() throws {
            var code = RealModeCode(origin: Self.codeAddress)
            code.mov(.dx, Self.doorbell)
            for value: UInt8 in [1, 2, 3] {
                code.mov(.al, value)
                code.outDXAL()                          // no exit: counter + 1
            }
            code.out(port: Self.syncPort)               // exit 1
            code.mov(.dx, Self.matchedDoorbell)
            code.mov(.al, 7)
            code.outDXAL()                              // matches: no exit
            code.mov(.al, 8)
            code.outDXAL()                              // exit 2: no match, a normal port write
            code.mov(.al, 7)
            code.outDXAL()                              // matches: no exit
            code.storeWord(0xABCD, at: Self.mmioDoorbellOffset)  // MMIO doorbell: no exit
            code.storeWord(0x1111, at: Self.mmioDoorbellOffset)  // (any value)
            code.out(port: Self.syncPort)               // exit 3; the VMM unregisters the port doorbell
            code.mov(.dx, Self.doorbell)
            code.mov(.al, 4)
            code.outDXAL()                              // exit 4: no longer a doorbell
            code.hlt()

            let machine = try TestMachine(memorySize: 0x1_0000)
            try machine.load(code.assemble(), at: Self.codeAddress)
            try machine.enterRealMode(rip: Self.codeAddress)
            var special = try machine.vcpu.specialRegisters()
            special.ds.base = Self.mmioBase
            special.ds.selector = UInt16(Self.mmioBase >> 4)
            try machine.vcpu.setSpecialRegisters(special)

            let any = try EventFD(options: .nonBlocking)
            let matched = try EventFD(options: .nonBlocking)
            let mmio = try EventFD(options: .nonBlocking)
            try machine.vm.registerIOEventFD(any, at: .port(Self.doorbell), length: 1)
            try machine.vm.registerIOEventFD(matched, at: .port(Self.matchedDoorbell), length: 1, datamatch: 7)
            try machine.vm.registerIOEventFD(
                mmio, at: .memory(GuestAddress(Self.mmioBase + UInt64(Self.mmioDoorbellOffset))), length: 2)

            let first = try machine.runExpectingIO("(sync after three doorbell writes)")
            #expect(first.port == UInt16(Self.syncPort), "the doorbell writes did not exit")
            #expect(try any.tryRead() == 3, "one count per guest write")
            #expect(try any.tryRead() == nil, "the read reset the counter")

            let unmatched = try machine.runExpectingIO("(write that does not match)")
            #expect(unmatched.direction == .out && unmatched.port == Self.matchedDoorbell && unmatched.value == 8)

            let second = try machine.runExpectingIO("(sync after the datamatch and MMIO writes)")
            #expect(second.port == UInt16(Self.syncPort), "matching and MMIO doorbell writes did not exit")
            #expect(try matched.tryRead() == 2, "only the two writes of 7 counted")
            #expect(try mmio.tryRead() == 2)
            #expect(try any.tryRead() == nil)

            try machine.vm.unregisterIOEventFD(any, at: .port(Self.doorbell), length: 1)
            let plain = try machine.runExpectingIO("(port write after unregistering)")
            #expect(plain.direction == .out && plain.port == Self.doorbell && plain.value == 4)
            #expect(try any.tryRead() == nil)
            try machine.runExpectingHalt()
        }
    }
}
