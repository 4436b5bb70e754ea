import X86Assembler

/// Where everything lives in the guest: one 64 KiB slot at guest-physical 0; both vCPUs run in 16-bit
/// real mode with every segment register 0, so an address is its offset.
enum Layout {
    static let memorySize = 0x1_0000
    static let interruptVectorTable: UInt64 = 0x0000   // 256 real-mode vectors, 4 bytes each (IP, CS)
    static let echoCount: UInt64 = 0x0500              // vCPU 0's count of echoed bytes (16 bits)
    static let uartProgram: UInt64 = 0x1000             // vCPU 0
    static let workerProgram: UInt64 = 0x2000           // vCPU 1
    static let uartStackTop: UInt64 = 0x7000
    static let workerStackTop: UInt64 = 0x8000
    /// The mailbox's MMIO registers: backed by no slot, so every access exits to the VMM. Real mode
    /// reaches it as segment 0xD000, offset 0 (the old ISA "adapter ROM" hole below 1 MiB).
    static let mailbox: UInt64 = 0xD_0000
}

/// The PC's COM1 and its interrupt.
enum COM1 {
    static let base: UInt16 = 0x3F8
    static let irq: UInt32 = 4
    /// The PIC maps IRQ 0-7 to vectors 0x08-0x0F (the PC BIOS layout the guest sets up), so IRQ 4 is 0x0C.
    static let vector: UInt64 = 0x0C
}

/// vCPU 0: sets up the interrupt controller and the UART, prints a banner, then sleeps (`sti; hlt`)
/// until the UART interrupts. The handler echoes every received byte upper-cased; when the carrier
/// drops (the VMM's stdin reached its end) it says goodbye and reports how many bytes it echoed to
/// the mailbox's DONE register.
///
/// Every `in`/`out` to the UART exits to the VMM; those to the PIC (ports 0x20, 0x21) are handled by
/// KVM's in-kernel PIC without an exit.
func uartProgram() throws -> [UInt8] {
    var code = RealModeCode(origin: Layout.uartProgram)
    let uartISR = code.makeLabel(), banner = code.makeLabel(), goodbye = code.makeLabel()
    let putc = code.makeLabel(), puts = code.makeLabel()
    let vectorAddress = UInt16(Layout.interruptVectorTable + COM1.vector * 4)
    let echoCount = UInt16(Layout.echoCount)
    code.cli()
    // The interrupt vector for IRQ 4 (0x0C): offset uart_isr, segment 0.
    code.storeWord(addressOf: uartISR, at: vectorAddress)
    code.storeWord(0, at: vectorAddress + 2)
    // The 8259A PIC, initialized as a PC BIOS leaves it: IRQ 0-7 → vectors 0x08-0x0F.
    code.mov(.al, 0x11); code.out(port: 0x20)        // ICW1: edge-triggered, ICW4 follows
    code.mov(.al, 0x08); code.out(port: 0x21)        // ICW2: vector base 0x08
    code.mov(.al, 0x04); code.out(port: 0x21)        // ICW3: slave PIC on IRQ 2
    code.mov(.al, 0x01); code.out(port: 0x21)        // ICW4: 8086 mode
    code.mov(.al, 0xEF); code.out(port: 0x21)        // OCW1: mask all but IRQ 4
    // The UART: 115200 baud, 8 data bits, no parity, 1 stop bit; FIFOs on; interrupts on.
    code.mov(.dx, COM1.base + 3); code.mov(.al, 0x80); code.outDXAL()  // LCR: DLAB (divisor latch access)
    code.mov(.dx, COM1.base); code.mov(.al, 0x01); code.outDXAL()      // DLL: divisor 1 = 115200 baud
    code.inc(.dx); code.mov(.al, 0x00); code.outDXAL()                 // DLM
    code.mov(.dx, COM1.base + 3); code.mov(.al, 0x03); code.outDXAL()  // LCR: 8N1, DLAB off
    code.mov(.dx, COM1.base + 2); code.mov(.al, 0x01); code.outDXAL()  // FCR: FIFOs on
    code.mov(.dx, COM1.base + 4); code.mov(.al, 0x0B); code.outDXAL()  // MCR: DTR, RTS, OUT2 (OUT2 gates IRQ 4)
    code.mov(.dx, COM1.base + 1); code.mov(.al, 0x09); code.outDXAL()  // IER: received data, modem status
    code.mov(.si, addressOf: banner)
    code.call(puts)
    let idle = code.here()
    code.sti()                                       // interrupts on (after the next instruction)
    code.hlt()                                       // sleep until one arrives
    code.jmp(idle)

    // IRQ 4. Handles whatever IIR reports until it reports nothing, then acknowledges the PIC.
    let next = code.makeLabel(), receive = code.makeLabel(), echo = code.makeLabel()
    let modem = code.makeLabel(), isrDone = code.makeLabel()
    code.bind(uartISR)
    code.push(.ax)
    code.push(.dx)
    code.bind(next)
    code.mov(.dx, COM1.base + 2); code.inALDX()      // IIR
    code.test(.al, 0x01)
    code.j(.notZero, isrDone)                        // bit 0: nothing pending
    code.test(.al, 0x0E)
    code.j(.zero, modem)                             // identification 0: modem status
    code.bind(receive)                               // otherwise: received data
    code.mov(.dx, COM1.base + 5); code.inALDX()      // LSR
    code.test(.al, 0x01)                             // DR: a byte is waiting
    code.j(.zero, next)
    code.mov(.dx, COM1.base); code.inALDX()          // RBR
    code.cmp(.al, UInt8(ascii: "a"))
    code.j(.below, echo)
    code.cmp(.al, UInt8(ascii: "z"))
    code.j(.above, echo)
    code.sub(.al, 0x20)                              // upper case
    code.bind(echo)
    code.call(putc)
    code.incrementWord(at: echoCount)                // echoed bytes
    code.jmp(receive)
    code.bind(modem)
    code.mov(.dx, COM1.base + 6); code.inALDX()      // MSR (reading clears its change bits)
    code.test(.al, 0x80)                             // DCD: carrier still there?
    code.j(.notZero, next)
    code.mov(.si, addressOf: goodbye)                // the other end hung up
    code.call(puts)
    code.load(.bx, from: echoCount)
    code.mov(.ax, UInt16(Layout.mailbox >> 4))
    code.mov(.ds, .ax)                               // ds:0 = the mailbox
    code.store(.bx, at: 4)                           // DONE: the VMM stops this vCPU
    let stop = code.here()
    code.jmp(stop)
    code.bind(isrDone)
    code.mov(.al, 0x20); code.out(port: 0x20)        // end of interrupt, to the PIC
    code.pop(.dx)
    code.pop(.ax)
    code.iret()

    // putc: sends al once the transmitter holding register is empty.
    code.bind(putc)
    code.push(.dx)
    code.push(.ax)
    code.mov(.dx, COM1.base + 5)
    let wait = code.here()
    code.inALDX()                                    // LSR
    code.test(.al, 0x20)                             // THRE
    code.j(.zero, wait)
    code.pop(.ax)
    code.mov(.dx, COM1.base); code.outDXAL()         // THR
    code.pop(.dx)
    code.ret()

    // puts: sends the zero-terminated string at si.
    let putsDone = code.makeLabel()
    code.bind(puts)
    code.lodsb()
    code.test(.al, .al)
    code.j(.zero, putsDone)
    code.call(putc)
    code.jmp(puts)
    code.bind(putsDone)
    code.ret()

    code.bind(banner)
    code.emit(ascii: "vCPU 0: UART ready, echoing input in upper case\n", terminator: 0)
    code.bind(goodbye)
    code.emit(ascii: "vCPU 0: carrier lost, goodbye\n", terminator: 0)
    return try code.assemble()
}

/// How many Fibonacci numbers vCPU 1 posts: F(0) to F(24) = 46368, the last below 2^16.
let fibonacciCount = 25

/// vCPU 1: posts Fibonacci numbers to the mailbox, one MMIO write each, then reads back how many
/// the mailbox received and reports that count to DONE.
func workerProgram() throws -> [UInt8] {
    var code = RealModeCode(origin: Layout.workerProgram)
    code.mov(.ax, UInt16(Layout.mailbox >> 4))
    code.mov(.ds, .ax)                               // ds:0 = the mailbox
    code.xor(.ax, .ax)                               // F(n) = F(0)
    code.mov(.bx, 1)                                 // F(n + 1)
    code.mov(.cx, UInt16(fibonacciCount))
    let next = code.here()
    code.store(.ax, at: 0)                           // POST F(n)
    code.add(.ax, .bx)                               // F(n + 2)
    code.xchg(.bx, .ax)                              // ax = F(n + 1), bx = F(n + 2)
    code.loop(next)
    code.load(.ax, from: 0)                          // COUNT: how many arrived
    code.store(.ax, at: 4)                           // DONE: the VMM stops this vCPU
    let stop = code.here()
    code.jmp(stop)
    return try code.assemble()
}
