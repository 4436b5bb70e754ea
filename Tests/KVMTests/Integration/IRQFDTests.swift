import KVM
import X86Assembler
import KVMBindings
import Testing

extension IntegrationTests {
    /// Scenario 8b: irqfd. With the in-kernel irqchip, a real-mode guest programs the master PIC
    /// (vectors 0x20-0x27, only IRQ 5 unmasked), installs an IVT handler for IRQ 5, and halts with
    /// interrupts on. Writing the eventfd registered for GSI 5 injects the interrupt: the handler
    /// reports, returns with iret, and the code after `hlt` reports too.
    @Suite struct IRQFDs {
        static let codeAddress: UInt64 = 0x1000
        static let handlerAddress: UInt64 = 0x1800
        static let stackTop: UInt64 = 0x8000
        static let gsi: UInt32 = 5
        static let vectorBase: UInt8 = 0x20
        static let readyPort: UInt8 = 0xE0
        static let handlerPort: UInt8 = 0xE1
        static let resumedPort: UInt8 = 0xE2

        @Test func eventFDWriteInjectsAnInterruptTheGuestHandles() throws {
            var code = RealModeCode(origin: Self.codeAddress)
            // PIC master: ICW1 (edge, cascade, ICW4), ICW2 (vector base), ICW3 (slave on IRQ 2), ICW4 (8086),
            // then OCW1: mask everything but IRQ 5. These ports are the in-kernel PIC's: no exits.
            for (port, value) in [(0x20, 0x11), (0x21, Self.vectorBase), (0x21, 0x04), (0x21, 0x01),
                                  (0x21, ~UInt8(1 << Self.gsi))] as [(UInt8, UInt8)] {
                code.mov(.al, value)
                code.out(port: port)
            }
            code.out(port: Self.readyPort)              // exit: ready
            code.emit(0xFB)                             // sti
            let halt = code.here()
            code.hlt()                                  // wait in the kernel for the interrupt
            code.mov(.al, 0x77)
            code.out(port: Self.resumedPort)            // exit: resumed after the handler
            code.cli()
            code.hlt()

            var handler = RealModeCode(origin: Self.handlerAddress)
            handler.mov(.al, 0x5A)
            handler.out(port: Self.handlerPort)         // exit: in the handler
            handler.mov(.al, 0x20)
            handler.out(port: 0x20)                     // EOI
            handler.emit(0xCF)                          // iret

            let machine = try TestMachine(memorySize: 0x1_0000) { vm in try vm.createIRQChip() }
            try machine.load(code.assemble(), at: Self.codeAddress)
            try machine.load(handler.assemble(), at: Self.handlerAddress)
            // IVT entry (offset, segment) for vector base + 5.
            let vector = UInt64(Self.vectorBase) + UInt64(Self.gsi)
            try machine.load([UInt8](littleEndian: UInt16(Self.handlerAddress)) + [0, 0], at: vector * 4)
            try machine.enterRealMode(rip: Self.codeAddress) { $0.rsp = Self.stackTop }

            let ready = try machine.runExpectingIO("(ready)")
            #expect(ready.port == UInt16(Self.readyPort), "the PIC programming did not exit")
            let eventfd = try EventFD()
            try machine.vm.registerIRQFD(eventfd, gsi: Self.gsi)

            // Control: without an eventfd write, the guest stays halted until stopped.
            let stopper = machine.vcpu.stopper
            let control = try HostThread {
                sleep(milliseconds: 50)
                stopper.stop()
            }
            let idle = try machine.run()
            control.join()
            guard case .stopped = idle else {
                Issue.record("expected the halted guest to wait for the interrupt, got \(idle)")
                return
            }
            #expect(try machine.vcpu.registers().rip == code.address(of: halt)! + 1, "halted on the hlt")

            try eventfd.write(1)
            let handled = try machine.runExpectingIO("(interrupt handler)")
            #expect(handled.port == UInt16(Self.handlerPort) && handled.value == 0x5A)
            let frame = try machine.vcpu.registers()
            #expect(frame.rsp == Self.stackTop - 6, "the interrupt pushed FLAGS, CS, IP")
            #expect(try machine.memory.load(UInt16.self, at: GuestAddress(frame.rsp)) == UInt16(code.address(of: halt)! + 1),
                    "the interrupted IP is just after the hlt")

            let resumed = try machine.runExpectingIO("(after iret)")
            #expect(resumed.port == UInt16(Self.resumedPort) && resumed.value == 0x77)
            try machine.vm.unregisterIRQFD(eventfd, gsi: Self.gsi)
        }
    }
}
