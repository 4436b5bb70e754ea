import KVM
import X86Assembler
import X86Setup

/// Where everything lives in the guest: one 1 MiB slot at guest-physical 0, identity-mapped
/// (guest-virtual = guest-physical).
enum Layout {
    static let memorySize = 0x10_0000
    static let gdt: GuestAddress = 0x0500         // 7 slots (the TSS descriptor takes two)
    static let taskState: GuestAddress = 0x0600   // the 104-byte 64-bit TSS
    static let pageTables: GuestAddress = 0x1000  // PML4, PDPT, page directory
    static let kernelStackTop: UInt64 = 0x7000
    static let kernelCode: UInt64 = 0x8000
    static let userCode: UInt64 = 0x9000
    static let userStackTop: UInt64 = 0x2_0000
    /// Inside the identity map but backed by no memory slot: every access exits to the VMM as MMIO.
    static let mmio: UInt64 = 0x1000_0000
}

/// The MMIO registers the VMM implements (offsets from `Layout.mmio`).
enum Register {
    static let bound: Int32 = 0x00     // read: count the primes below this
    static let result: Int32 = 0x08    // write: the count (the guest's last act)
    static let console: Int32 = 0x10   // write: one character of text
}

/// The port the kernel prints to (0xE9, the "debug console" port of Bochs and QEMU).
let consolePort: UInt16 = 0xE9

// MARK: Tables

/// Writes the page tables (the first 1 GiB identity-mapped with 2 MiB pages, user-accessible so that
/// CPL3 code may use it all), the GDT (null, kernel code 0x08, kernel data 0x10, user data 0x1B,
/// user code 0x23, TSS 0x28) and the TSS (RSP0 = the kernel stack, the stack the CPU would switch to
/// if user code entered the kernel through an interrupt; no I/O bitmap, so user code may not use
/// ports). Returns the entry states for CPL0 and CPL3.
func writeSystemTables(into memory: GuestMemory) throws -> LongModeSetup.Result {
    try LongModeSetup.write(
        into: memory,
        layout: LongModeSetup.Layout(
            gdt: Layout.gdt, taskState: Layout.taskState, pageTables: Layout.pageTables,
            identityMappedSize: 1 << 30, pageSize: .size2MiB, userAccessible: true,
            kernelStackTop: Layout.kernelStackTop))
}

// MARK: Code

/// The kernel (CPL0). On a PVM host every instruction of it is emulated, so it is short: it prints a
/// line to port 0xE9, halts once (the VMM resumes it), and `iretq`s to user mode.
func kernelProgram() throws -> [UInt8] {
    var code = LongModeCode(origin: Layout.kernelCode)
    let message = code.makeLabel(), print = code.makeLabel(), printed = code.makeLabel()
    code.mov(.esi, addressOf: message)
    code.bind(print)
    code.lodsb()                                      // al = [rsi++]
    code.test(.al, .al)
    code.j(.zero, printed)
    code.out(port: UInt8(consolePort))                // exit: port I/O
    code.jmp(print)
    code.bind(printed)
    code.hlt()                                        // exit: halt
    // iretq pops RIP, CS, RFLAGS, RSP and SS: push them in reverse. Lowering CPL is what iretq is for.
    code.push(Int32(LongModeSetup.userDataSelector))  // SS: user data, RPL 3
    code.push(Int32(Layout.userStackTop))             // RSP
    code.push(0x2)                                    // RFLAGS: interrupts off
    code.push(Int32(LongModeSetup.userCodeSelector))  // CS: user code, RPL 3
    code.push(Int32(Layout.userCode))                 // RIP
    code.iretq()                                      // to CPL3
    code.bind(message)
    code.emit(ascii: "Hello from 64-bit kernel mode, port 0xE9\n", terminator: 0)
    return try code.assemble()
}

/// User mode (CPL3, native): prints a line through the MMIO console register, reads the bound from
/// MMIO, counts the primes below it by trial division and writes the count to MMIO.
///
/// The count, in C: `count = 1 /* 2 */; for (n = 3; n < bound; n += 2) { for (d = 3; d * d <= n;
/// d += 2) if (n % d == 0) goto composite; count++; composite:; }`
func userProgram() throws -> [UInt8] {
    var code = LongModeCode(origin: Layout.userCode)
    let message = code.makeLabel(), print = code.makeLabel(), printed = code.makeLabel()
    let nextN = code.makeLabel(), nextD = code.makeLabel(), prime = code.makeLabel()
    let composite = code.makeLabel(), done = code.makeLabel()
    code.movabs(.rbx, Layout.mmio)                    // rbx = the MMIO registers
    code.mov(.esi, addressOf: message)
    code.bind(print)
    code.lodsb()
    code.test(.al, .al)
    code.j(.zero, printed)
    code.store(.al, at: .rbx, displacement: Register.console)  // exit: MMIO write
    code.jmp(print)
    code.bind(printed)
    code.load(.ecx, from: .rbx, displacement: Register.bound)  // exit: MMIO read (bound)
    code.mov(.r8d, 1)                                 // count (the prime 2)
    code.mov(.esi, 3)                                 // n
    code.bind(nextN)
    code.cmp(.esi, .ecx)
    code.j(.aboveOrEqual, done)                       // n >= bound
    code.mov(.edi, 3)                                 // d
    code.bind(nextD)
    code.mov(.eax, .edi)
    code.imul(.eax, .edi)
    code.cmp(.eax, .esi)
    code.j(.above, prime)                             // d * d > n
    code.mov(.eax, .esi)
    code.xor(.edx, .edx)
    code.div(.edi)                                    // edx = n % d
    code.test(.edx, .edx)
    code.j(.zero, composite)
    code.add(.edi, 2)
    code.jmp(nextD)
    code.bind(prime)
    code.inc(.r8d)
    code.bind(composite)
    code.add(.esi, 2)
    code.jmp(nextN)
    code.bind(done)
    code.store(.r8, at: .rbx, displacement: Register.result)  // exit: MMIO write (result)
    let end = code.here()                             // the VMM does not run the vCPU again
    code.jmp(end)
    code.bind(message)
    code.emit(ascii: "Hello from user mode, MMIO console\n", terminator: 0)
    return try code.assemble()
}
