import KVM
import X86Assembler
import KVMBindings
import Testing

extension IntegrationTests {
    /// Scenario 1: a real-mode guest reads ports (`in`), the VMM answers with `completePortInput`,
    /// and the guest proves it received the value by echoing it (+1) with `out` and storing it.
    @Suite struct RealModePortIO {
        static let codeAddress: UInt64 = 0x1000
        static let resultAddress: UInt16 = 0x7000
        static let dataPort: UInt16 = 0x510
        static let immediatePort: UInt8 = 0x71

        @Test func inputArrivesInTheGuestAndComesBackOut() throws {
            var code = RealModeCode(origin: Self.codeAddress)
            code.mov(.dx, Self.dataPort)
            code.inALDX()                               // al = VMM's answer
            code.inc(.al)
            code.outDXAL()                              // echo it + 1
            code.store(.al, at: Self.resultAddress)
            code.in(port: Self.immediatePort)           // al = second answer
            code.store(.al, at: Self.resultAddress + 1)
            let halt = code.here()
            code.hlt()
            let bytes = try code.assemble()

            let machine = try TestMachine()
            try machine.load(bytes, at: Self.codeAddress)
            try machine.enterRealMode(rip: Self.codeAddress)

            let input = try machine.runExpectingIO("(in al, dx)")
            #expect(input.direction == .in && input.port == Self.dataPort && input.size == 1 && input.count == 1)
            try machine.vcpu.completePortInput(0x41)

            let output = try machine.runExpectingIO("(out dx, al)")
            #expect(output.direction == .out && output.port == Self.dataPort && output.size == 1 && output.count == 1)
            #expect(output.value == 0x42, "the guest echoed the input + 1")

            let second = try machine.runExpectingIO("(in al, imm8)")
            #expect(second.direction == .in && second.port == UInt16(Self.immediatePort) && second.size == 1)
            // Wider than the access: only the low byte reaches al.
            try machine.vcpu.completePortInput(0xABCD_EF99)

            try machine.runExpectingHalt()
            let stored = try machine.memory.readBytes(at: GuestAddress(UInt64(Self.resultAddress)), count: 2)
            #expect(stored == [0x42, 0x99])
            let registers = try machine.vcpu.registers()
            #expect(registers.rax & 0xFF == 0x99)
            #expect(registers.rdx & 0xFFFF == UInt64(Self.dataPort))
            #expect(registers.rip == code.address(of: halt)! + 1, "RIP is past the hlt")
        }
    }
}
