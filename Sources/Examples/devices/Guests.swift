import ExampleSupport
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
func uartProgram() -> MachineCode {
    var code = MachineCode(origin: Layout.uartProgram)
    code.emit(0xFA)                                 // cli
    // The interrupt vector for IRQ 4 (0x0C): offset uart_isr, segment 0.
    code.emit(0xC7, 0x06, 0x30, 0x00, addressOf: "uart_isr", size: 2) // mov word ptr [0x30], uart_isr
    code.emit(0xC7, 0x06, 0x32, 0x00, 0x00, 0x00)   // mov word ptr [0x32], 0
    // The 8259A PIC, initialized as a PC BIOS leaves it: IRQ 0-7 → vectors 0x08-0x0F.
    code.emit(0xB0, 0x11)                           // mov al, 0x11           ; ICW1: edge-triggered, ICW4 follows
    code.emit(0xE6, 0x20)                           // out 0x20, al
    code.emit(0xB0, 0x08)                           // mov al, 0x08           ; ICW2: vector base 0x08
    code.emit(0xE6, 0x21)                           // out 0x21, al
    code.emit(0xB0, 0x04)                           // mov al, 0x04           ; ICW3: slave PIC on IRQ 2
    code.emit(0xE6, 0x21)                           // out 0x21, al
    code.emit(0xB0, 0x01)                           // mov al, 0x01           ; ICW4: 8086 mode
    code.emit(0xE6, 0x21)                           // out 0x21, al
    code.emit(0xB0, 0xEF)                           // mov al, 0xef           ; OCW1: mask all but IRQ 4
    code.emit(0xE6, 0x21)                           // out 0x21, al
    // The UART: 115200 baud, 8 data bits, no parity, 1 stop bit; FIFOs on; interrupts on.
    code.emit(0xBA, 0xFB, 0x03)                     // mov dx, 0x3fb
    code.emit(0xB0, 0x80)                           // mov al, 0x80           ; LCR: DLAB (divisor latch access)
    code.emit(0xEE)                                 // out dx, al
    code.emit(0xBA, 0xF8, 0x03)                     // mov dx, 0x3f8
    code.emit(0xB0, 0x01)                           // mov al, 0x01           ; DLL: divisor 1 = 115200 baud
    code.emit(0xEE)                                 // out dx, al
    code.emit(0x42)                                 // inc dx
    code.emit(0xB0, 0x00)                           // mov al, 0x00           ; DLM
    code.emit(0xEE)                                 // out dx, al
    code.emit(0xBA, 0xFB, 0x03)                     // mov dx, 0x3fb
    code.emit(0xB0, 0x03)                           // mov al, 0x03           ; LCR: 8N1, DLAB off
    code.emit(0xEE)                                 // out dx, al
    code.emit(0xBA, 0xFA, 0x03)                     // mov dx, 0x3fa
    code.emit(0xB0, 0x01)                           // mov al, 0x01           ; FCR: FIFOs on
    code.emit(0xEE)                                 // out dx, al
    code.emit(0xBA, 0xFC, 0x03)                     // mov dx, 0x3fc
    code.emit(0xB0, 0x0B)                           // mov al, 0x0b           ; MCR: DTR, RTS, OUT2 (OUT2 gates IRQ 4)
    code.emit(0xEE)                                 // out dx, al
    code.emit(0xBA, 0xF9, 0x03)                     // mov dx, 0x3f9
    code.emit(0xB0, 0x09)                           // mov al, 0x09           ; IER: received data, modem status
    code.emit(0xEE)                                 // out dx, al
    code.emit(0xBE, addressOf: "banner", size: 2)   // mov si, banner
    code.emit(0xE8, relativeTo: "puts", size: 2)    // call puts
    code.bind("idle")
    code.emit(0xFB)                                 // sti                    ; interrupts on (after the next instruction)
    code.emit(0xF4)                                 // hlt                    ; sleep until one arrives
    code.emit(0xEB, relativeTo: "idle")             // jmp idle

    // IRQ 4. Handles whatever IIR reports until it reports nothing, then acknowledges the PIC.
    code.bind("uart_isr")
    code.emit(0x50)                                 // push ax
    code.emit(0x52)                                 // push dx
    code.bind("next")
    code.emit(0xBA, 0xFA, 0x03)                     // mov dx, 0x3fa
    code.emit(0xEC)                                 // in al, dx              ; IIR
    code.emit(0xA8, 0x01)                           // test al, 1
    code.emit(0x75, relativeTo: "isr_done")         // jnz isr_done           ; bit 0: nothing pending
    code.emit(0xA8, 0x0E)                           // test al, 0x0e
    code.emit(0x74, relativeTo: "modem")            // jz modem               ; identification 0: modem status
    code.bind("receive")                            // otherwise: received data
    code.emit(0xBA, 0xFD, 0x03)                     // mov dx, 0x3fd
    code.emit(0xEC)                                 // in al, dx              ; LSR
    code.emit(0xA8, 0x01)                           // test al, 1             ; DR: a byte is waiting
    code.emit(0x74, relativeTo: "next")             // jz next
    code.emit(0xBA, 0xF8, 0x03)                     // mov dx, 0x3f8
    code.emit(0xEC)                                 // in al, dx              ; RBR
    code.emit(0x3C, 0x61)                           // cmp al, 0x61           ; 'a'
    code.emit(0x72, relativeTo: "echo")             // jb echo
    code.emit(0x3C, 0x7A)                           // cmp al, 0x7a           ; 'z'
    code.emit(0x77, relativeTo: "echo")             // ja echo
    code.emit(0x2C, 0x20)                           // sub al, 0x20           ; upper case
    code.bind("echo")
    code.emit(0xE8, relativeTo: "putc", size: 2)    // call putc
    code.emit(0xFF, 0x06, 0x00, 0x05)               // inc word ptr [0x500]   ; echoed bytes
    code.emit(0xEB, relativeTo: "receive")          // jmp receive
    code.bind("modem")
    code.emit(0xBA, 0xFE, 0x03)                     // mov dx, 0x3fe
    code.emit(0xEC)                                 // in al, dx              ; MSR (reading clears its change bits)
    code.emit(0xA8, 0x80)                           // test al, 0x80          ; DCD: carrier still there?
    code.emit(0x75, relativeTo: "next")             // jnz next
    code.emit(0xBE, addressOf: "goodbye", size: 2)  // mov si, goodbye        ; the other end hung up
    code.emit(0xE8, relativeTo: "puts", size: 2)    // call puts
    code.emit(0x8B, 0x1E, 0x00, 0x05)               // mov bx, [0x500]
    code.emit(0xB8, 0x00, 0xD0)                     // mov ax, 0xd000
    code.emit(0x8E, 0xD8)                           // mov ds, ax             ; ds:0 = the mailbox
    code.emit(0x89, 0x1E, 0x04, 0x00)               // mov [4], bx            ; DONE: the VMM stops this vCPU
    code.bind("stop")
    code.emit(0xEB, relativeTo: "stop")             // jmp stop
    code.bind("isr_done")
    code.emit(0xB0, 0x20)                           // mov al, 0x20
    code.emit(0xE6, 0x20)                           // out 0x20, al           ; end of interrupt, to the PIC
    code.emit(0x5A)                                 // pop dx
    code.emit(0x58)                                 // pop ax
    code.emit(0xCF)                                 // iret

    // putc: sends al once the transmitter holding register is empty.
    code.bind("putc")
    code.emit(0x52)                                 // push dx
    code.emit(0x50)                                 // push ax
    code.emit(0xBA, 0xFD, 0x03)                     // mov dx, 0x3fd
    code.bind("wait")
    code.emit(0xEC)                                 // in al, dx              ; LSR
    code.emit(0xA8, 0x20)                           // test al, 0x20          ; THRE
    code.emit(0x74, relativeTo: "wait")             // jz wait
    code.emit(0x58)                                 // pop ax
    code.emit(0xBA, 0xF8, 0x03)                     // mov dx, 0x3f8
    code.emit(0xEE)                                 // out dx, al             ; THR
    code.emit(0x5A)                                 // pop dx
    code.emit(0xC3)                                 // ret

    // puts: sends the zero-terminated string at si.
    code.bind("puts")
    code.emit(0xAC)                                 // lodsb
    code.emit(0x84, 0xC0)                           // test al, al
    code.emit(0x74, relativeTo: "puts_done")        // jz puts_done
    code.emit(0xE8, relativeTo: "putc", size: 2)    // call putc
    code.emit(0xEB, relativeTo: "puts")             // jmp puts
    code.bind("puts_done")
    code.emit(0xC3)                                 // ret

    code.bind("banner")
    code.emit(data: Array("vCPU 0: UART ready, echoing input in upper case\n".utf8) + [0])
    code.bind("goodbye")
    code.emit(data: Array("vCPU 0: carrier lost, goodbye\n".utf8) + [0])
    return code
}

/// How many Fibonacci numbers vCPU 1 posts: F(0) to F(24) = 46368, the last below 2^16.
let fibonacciCount = 25

/// vCPU 1: posts Fibonacci numbers to the mailbox, one MMIO write each, then reads back how many
/// the mailbox received and reports that count to DONE.
func workerProgram() -> MachineCode {
    var code = MachineCode(origin: Layout.workerProgram)
    code.emit(0xB8, 0x00, 0xD0)                     // mov ax, 0xd000
    code.emit(0x8E, 0xD8)                           // mov ds, ax             ; ds:0 = the mailbox
    code.emit(0x31, 0xC0)                           // xor ax, ax             ; F(n) = F(0)
    code.emit(0xBB, 0x01, 0x00)                     // mov bx, 1              ; F(n + 1)
    code.emit(0xB9, immediate: UInt64(fibonacciCount), size: 2) // mov cx, 25
    code.bind("next")
    code.emit(0xA3, 0x00, 0x00)                     // mov [0], ax            ; POST F(n)
    code.emit(0x01, 0xD8)                           // add ax, bx             ; F(n + 2)
    code.emit(0x93)                                 // xchg bx, ax            ; ax = F(n + 1), bx = F(n + 2)
    code.emit(0xE2, relativeTo: "next")             // loop next
    code.emit(0xA1, 0x00, 0x00)                     // mov ax, [0]            ; COUNT: how many arrived
    code.emit(0xA3, 0x04, 0x00)                     // mov [4], ax            ; DONE: the VMM stops this vCPU
    code.bind("stop")
    code.emit(0xEB, relativeTo: "stop")             // jmp stop
    return code
}
