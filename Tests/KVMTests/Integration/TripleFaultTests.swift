import KVM
import X86Assembler
import KVMBindings
import Testing

extension IntegrationTests {
    /// Scenario 5a: an exception with an IDT of limit 0 cannot be delivered (#GP, then #DF, then
    /// shutdown): `run()` returns `.shutdown`, and RIP still points at the faulting instruction.
    @Suite struct TripleFault {
        static let codeAddress: UInt64 = 0x9000
        /// Above the 1 GiB the page tables map: a page fault.
        static let unmapped: UInt64 = 0x80_0000_0000

        @Test(arguments: [false, true])
        func undeliverableExceptionShutsDown(user: Bool) throws {
            var code = LongModeCode(origin: Self.codeAddress)
            code.mov(.eax, 0x1234)
            let fault = code.here()
            if user {
                code.movabs(.rbx, Self.unmapped)            // at CPL3 (native on PVM): a page fault
                code.load(.rax, from: .rbx)
            } else {
                code.emit(0x0F, 0x0B)                       // at CPL0 (emulated on PVM): ud2, #UD
            }
            code.mov(.eax, 0x5678)
            let spin = code.here()
            code.jmp(spin)
            // For the page fault, the fault is at the load, after the movabs.
            let faultAddress = code.address(of: fault)! + (user ? 10 : 0)

            let machine = try TestMachine()
            try machine.load(code.assemble(), at: Self.codeAddress)
            try machine.enterLongMode(rip: Self.codeAddress, rsp: 0xB000, user: user)
            var special = try machine.vcpu.specialRegisters()
            special.idt.base = 0
            special.idt.limit = 0
            try machine.vcpu.setSpecialRegisters(special)

            let exit = try machine.run()
            print("triple fault (\(user ? "#PF at CPL3" : "#UD at CPL0")): \(exit)")
            guard case .shutdown = exit else {
                Issue.record("expected .shutdown, got \(exit)")
                return
            }
            let registers = try machine.vcpu.registers()
            #expect(registers.rip == faultAddress, "RIP at the faulting instruction")
            #expect(registers.rax & 0xFFFF_FFFF == 0x1234, "nothing after the fault ran")
            if user {
                #expect(try machine.vcpu.specialRegisters().cr2 == Self.unmapped, "CR2 holds the faulting address")
            }
        }
    }
}
