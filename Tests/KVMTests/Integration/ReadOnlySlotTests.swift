import KVM
import X86Assembler
import KVMBindings
import Testing

extension IntegrationTests {
    /// Scenario 3a: a read-only slot (`KVM_MEM_READONLY`). Guest reads see its contents without an
    /// exit; guest writes exit as MMIO writes carrying the value, and do not change the memory.
    @Suite struct ReadOnlySlot {
        static let codeAddress: UInt64 = 0x1000
        static let romBase: UInt64 = 0x2_0000
        static let romSize = 0x2000
        static let port: UInt8 = 0x80

        @Test func readsSeeMemoryAndWritesExitAsMMIO() throws {
            let pattern = (0 ..< Self.romSize).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            let machine = try TestMachine(memorySize: 0x1_0000) { vm in
                try vm.mapMemory(slot: 1, at: GuestAddress(Self.romBase), size: Self.romSize, flags: .readOnly)
                // The host may still write a read-only slot.
                try vm.memory.write(bytes: pattern, at: GuestAddress(Self.romBase))
            }

            // DS points at the read-only slot, so [offset] is romBase + offset.
            var code = RealModeCode(origin: Self.codeAddress)
            code.load(.al, from: 0x0010)
            code.out(port: Self.port)                   // the byte read from the slot
            code.load(.ax, from: 0x1234)
            code.out(port: Self.port)                   // low byte of a 16-bit read in the second page
            code.storeByte(0x5A, at: 0x0020)            // MMIO write, 1 byte
            code.storeWord(0xBEEF, at: 0x1FFE)          // MMIO write, 2 bytes, last word of the slot
            code.load(.al, from: 0x0020)
            code.out(port: Self.port)                   // the write did not land
            code.hlt()
            try machine.load(code.assemble(), at: Self.codeAddress)
            try machine.enterRealMode(rip: Self.codeAddress)
            var special = try machine.vcpu.specialRegisters()
            special.ds.base = Self.romBase
            special.ds.selector = UInt16(Self.romBase >> 4)
            try machine.vcpu.setSpecialRegisters(special)

            let first = try machine.runExpectingIO("(byte read from the read-only slot)")
            #expect(first.port == UInt16(Self.port) && first.value == UInt32(pattern[0x10]))
            let second = try machine.runExpectingIO("(word read from the read-only slot)")
            #expect(second.value == UInt32(pattern[0x1234]))
            #expect(try machine.vcpu.registers().rax & 0xFFFF == UInt64(pattern[0x1235]) << 8 | UInt64(pattern[0x1234]))

            let byteWrite = try machine.runExpectingMMIO("(byte write)")
            #expect(byteWrite.isWrite && byteWrite.address.rawValue == Self.romBase + 0x20)
            #expect(byteWrite.length == 1 && byteWrite.value == 0x5A)
            let wordWrite = try machine.runExpectingMMIO("(word write)")
            #expect(wordWrite.isWrite && wordWrite.address.rawValue == Self.romBase + 0x1FFE)
            #expect(wordWrite.length == 2 && wordWrite.value == 0xBEEF)

            let after = try machine.runExpectingIO("(re-read after the write)")
            #expect(after.value == UInt32(pattern[0x20]), "a guest write to a read-only slot does not land")
            try machine.runExpectingHalt()
            #expect(try machine.memory.readBytes(at: GuestAddress(Self.romBase), count: Self.romSize) == pattern)
        }
    }
}
