import KVM
import X86Setup
import X86Assembler
import KVMBindings
import Testing

extension IntegrationTests {
    /// Scenario 2: a 64-bit guest (LongModeSetup page tables and GDT) does MMIO at CPL0, answers
    /// reads with `completeMMIORead` and echoes them (+1), then drops to CPL3 with `iretq` and does
    /// the same from user mode.
    @Suite struct LongModeMMIO {
        static let kernelCode: UInt64 = 0x8000
        static let userCode: UInt64 = 0x9000
        static let kernelStackTop: UInt64 = 0x7000
        static let userStackTop: UInt64 = 0xB000
        /// Inside the 1 GiB identity map but backed by no slot: every access is MMIO.
        static let mmio: UInt64 = 0x1000_0000

        @Test func mmioAtCPL0ThenAtCPL3AfterIretq() throws {
            var user = LongModeCode(origin: Self.userCode)
            user.movabs(.rbx, Self.mmio + 0x100)
            user.movabs(.rax, 0xFEED_FACE_CAFE_F00D)
            user.store(.rax, at: .rbx)                  // 8-byte MMIO write from ring 3
            user.load(.eax, from: .rbx)                 // 4-byte MMIO read (zero-extends into rax)
            user.inc(.rax)
            user.add(.rbx, 8)
            user.store(.rax, at: .rbx)                  // echo + 1
            let spin = user.here()
            user.jmp(spin)

            var kernel = LongModeCode(origin: Self.kernelCode)
            kernel.movabs(.rbx, Self.mmio)
            kernel.movabs(.rax, 0x1122_3344_5566_7788)
            kernel.store(.rax, at: .rbx)                // 8-byte MMIO write
            kernel.load(.rax, from: .rbx)               // 8-byte MMIO read
            kernel.inc(.rax)
            kernel.add(.rbx, 8)
            kernel.store(.rax, at: .rbx)                // echo + 1
            // iretq frame: SS, RSP, RFLAGS, CS, RIP.
            kernel.push(Int32(LongModeSetup.userDataSelector))
            kernel.movabs(.rax, Self.userStackTop)
            kernel.push(.rax)
            kernel.push(2)
            kernel.push(Int32(LongModeSetup.userCodeSelector))
            kernel.movabs(.rax, Self.userCode)
            kernel.push(.rax)
            kernel.iretq()

            let machine = try TestMachine()
            try machine.load(kernel.assemble(), at: Self.kernelCode)
            try machine.load(user.assemble(), at: Self.userCode)
            try machine.enterLongMode(rip: Self.kernelCode, rsp: Self.kernelStackTop)

            // Ring 0.
            let write = try machine.runExpectingMMIO("(CPL0 write)")
            #expect(write.isWrite && write.address.rawValue == Self.mmio && write.length == 8)
            #expect(write.value == 0x1122_3344_5566_7788)
            #expect(try privilegeLevel(machine.vcpu) == 0)

            let read = try machine.runExpectingMMIO("(CPL0 read)")
            #expect(!read.isWrite && read.address.rawValue == Self.mmio && read.length == 8)
            machine.vcpu.completeMMIORead(0x0123_4567_89AB_CDEF)

            let echo = try machine.runExpectingMMIO("(CPL0 echo)")
            #expect(echo.isWrite && echo.address.rawValue == Self.mmio + 8 && echo.length == 8)
            #expect(echo.value == 0x0123_4567_89AB_CDF0, "the guest wrote back the value it read, + 1")
            #expect(try privilegeLevel(machine.vcpu) == 0)

            // Ring 3, after iretq.
            let userWrite = try machine.runExpectingMMIO("(CPL3 write)")
            #expect(userWrite.isWrite && userWrite.address.rawValue == Self.mmio + 0x100 && userWrite.length == 8)
            #expect(userWrite.value == 0xFEED_FACE_CAFE_F00D)
            #expect(try privilegeLevel(machine.vcpu) == 3, "the MMIO write came from ring 3")
            let userRegisters = try machine.vcpu.registers()
            #expect(userRegisters.rsp == Self.userStackTop, "iretq loaded the user stack")

            let userRead = try machine.runExpectingMMIO("(CPL3 read)")
            #expect(!userRead.isWrite && userRead.address.rawValue == Self.mmio + 0x100 && userRead.length == 4)
            machine.vcpu.completeMMIORead(0x89AB_CDEF_7654_3210)  // only the low 4 bytes are read

            let userEcho = try machine.runExpectingMMIO("(CPL3 echo)")
            #expect(userEcho.isWrite && userEcho.address.rawValue == Self.mmio + 0x108 && userEcho.length == 8)
            #expect(userEcho.value == 0x7654_3211)
            #expect(try privilegeLevel(machine.vcpu) == 3)
        }

        /// CS.selector's RPL (= CPL) and CS.DPL must agree.
        func privilegeLevel(_ vcpu: VCPU) throws -> Int {
            let cs = try vcpu.specialRegisters().cs
            #expect(UInt8(cs.selector & 3) == cs.dpl, "CS selector \(cs.selector) vs DPL \(cs.dpl)")
            return Int(cs.selector & 3)
        }
    }
}
