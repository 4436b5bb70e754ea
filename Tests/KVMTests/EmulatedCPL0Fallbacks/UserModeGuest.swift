import EmulatedCPL0Fallbacks
import KVM
import KVMBindings
import X86Assembler
import X86Setup

/// A hand-made long-mode guest with a kernel in the upper half (supervisor pages at -2 GiB, as Linux
/// has it), GDT, TSS (RSP0), two IDTs, STAR/LSTAR/SFMASK, and user code at CPL3 in the low half.
///
/// The kernel starts at CPL0 in `boot`: it loads an early IDT, makes a "console" exit (port 0x84), loads
/// the final IDT (another #PF handler), exits again, then `sysretq`s to the user code, which the test
/// chooses. The kernel's syscall entry counts calls in R12, records its CS in R13 and returns with
/// `sysretq`; syscall 60 ends the run (`out 0x80` at CPL0). The final #PF handler handles one genuine
/// user fault at `demandPage` by mapping it (PDPT entry 1) and counts it in R14; any other fault, and
/// #UD or #GP, end the run with a distinct port (0x81, 0x86, 0x8D). Vector 0x80 is a DPL-3 gate that
/// ends the run with port 0x88 (what `int 0x80` does where the host delivers it).
///
/// Guest-physical layout (2 MiB): GDT 0x500, TSS 0x600, low page tables 0x1000-0x3FFF (LongModeSetup,
/// identity, user-accessible), upper-half tables 0x4000/0x5000 (supervisor), kernel code 0x6000, early
/// IDT 0x7000, user code 0x8000, user stack below 0xC000, kernel stack below 0xE000, final IDT 0x10000,
/// IDTR images 0x11000, a TSS with an I/O bitmap (``useIOBitmap(allowing:)``) at 0x12000.
struct UserModeGuest {
    static let kernelBase: UInt64 = 0xFFFF_FFFF_8000_0000
    static let kernelCodeAddress: UInt64 = 0x6000
    static let earlyIDT: UInt64 = 0x7000
    static let finalIDT: UInt64 = 0x10000
    static let idtrImages: UInt64 = 0x11000
    static let userCodeAddress: UInt64 = 0x8000
    static let userStackTop: UInt64 = 0xC000
    static let kernelStackTop: UInt64 = 0xE000
    /// Not mapped until the #PF handler maps PDPT entry 1 (1 GiB, onto the same page directory).
    static let demandPage: UInt64 = 0x4000_0000
    static let syscallMask: UInt64 = 0x47700  // Linux's: TF, DF, IF, IOPL, AC, NT

    static let consolePort: UInt16 = 0x84
    static let exitPort: UInt16 = 0x80
    static let unexpectedFaultPort: UInt16 = 0x81
    static let invalidOpcodePort: UInt16 = 0x86
    static let generalProtectionPort: UInt16 = 0x8D
    static let int80Port: UInt16 = 0x88

    let machine: TestMachine
    let lstar: UInt64
    let earlyPageFaultHandler: UInt64
    let finalPageFaultHandler: UInt64

    /// Builds the guest with `user` as the CPL3 program (at `userCodeAddress`).
    init(user: LongModeCode) throws {
        machine = try TestMachine(memorySize: 0x20_0000)
        // LongModeSetup's tables and the CPL0 segments (it rewrites the PML4 and TSS pages, so first).
        _ = try machine.enterLongMode(rip: 0, rsp: Self.kernelBase + Self.kernelStackTop)

        // Upper half: PML4[511] -> PDPT 0x4000 [510] -> PD 0x5000 [0] -> 2 MiB page at 0, supervisor.
        try machine.load([UInt8](littleEndian: UInt64(0x4000 | 0x3)), at: 0x1000 + 511 * 8)
        try machine.load([UInt8](littleEndian: UInt64(0x5000 | 0x3)), at: 0x4000 + 510 * 8)
        try machine.load([UInt8](littleEndian: UInt64(0x83)), at: 0x5000)
        // TSS RSP0.
        try machine.load([UInt8](littleEndian: Self.kernelBase + Self.kernelStackTop), at: 0x600 + 4)

        var code = LongModeCode(origin: Self.kernelBase + Self.kernelCodeAddress)
        let boot = code.here()
        code.movabs(.rax, Self.kernelBase + Self.idtrImages)
        code.lidt(at: .rax)
        code.out(port: UInt8(Self.consolePort))
        code.movabs(.rax, Self.kernelBase + Self.idtrImages + 16)
        code.lidt(at: .rax)
        code.out(port: UInt8(Self.consolePort))
        code.mov(.ecx, UInt32(Self.userCodeAddress))
        code.mov(.r11d, 0x202)
        code.movabs(.rsp, Self.userStackTop)
        code.emit(0x48, 0x0F, 0x07)  // sysretq

        code.emit(repeating: 0x90, count: 16 - code.count % 16)
        let entry = code.here()  // LSTAR
        let exit = code.makeLabel()
        code.cmp(.rax, 60)
        code.je(exit)
        code.inc(.r12)
        code.emit(0x41, 0x8C, 0xCD)  // mov r13d, cs
        code.emit(0x48, 0x0F, 0x07)  // sysretq
        code.bind(exit)
        code.out(port: UInt8(Self.exitPort))
        code.hlt()

        code.emit(repeating: 0x90, count: 16 - code.count % 16)
        let earlyHandler = code.here()  // the early IDT's #PF handler: never expected to run
        code.out(port: UInt8(Self.unexpectedFaultPort))
        code.hlt()

        code.emit(repeating: 0x90, count: 16 - code.count % 16)
        let pageFault = code.here()
        let unexpected = code.makeLabel()
        code.push(.rax)
        code.push(.rbx)
        code.mov(.rax, .cr2)
        code.movabs(.rbx, Self.demandPage)
        code.cmp(.rax, .rbx)
        code.jne(unexpected)
        code.movabs(.rbx, Self.kernelBase + 0x2000 + 8)  // PDPT entry 1, through the upper half
        code.mov(.eax, 0x3000 | 0x7)
        code.store(.rax, at: .rbx)
        code.inc(.r14)
        code.emit(0x5B)  // pop rbx
        code.emit(0x58)  // pop rax
        code.add(.rsp, 8)  // the error code
        code.iretq()
        code.bind(unexpected)
        code.out(port: UInt8(Self.unexpectedFaultPort))
        code.hlt()

        let invalidOpcode = code.here()
        code.out(port: UInt8(Self.invalidOpcodePort))
        code.hlt()
        let generalProtection = code.here()
        code.out(port: UInt8(Self.generalProtectionPort))
        code.hlt()
        let int80 = code.here()
        code.out(port: UInt8(Self.int80Port))
        code.hlt()
        try machine.load(code.assemble(), at: Self.kernelCodeAddress)
        try machine.load(user.assemble(), at: Self.userCodeAddress)

        lstar = code.address(of: entry)!
        earlyPageFaultHandler = code.address(of: earlyHandler)!
        finalPageFaultHandler = code.address(of: pageFault)!
        try Self.writeIDT(at: Self.earlyIDT, [14: (earlyPageFaultHandler, 0)])
            .forEach { try machine.load($0.bytes, at: $0.address) }
        try Self.writeIDT(at: Self.finalIDT, [
            14: (finalPageFaultHandler, 0), 6: (code.address(of: invalidOpcode)!, 0),
            13: (code.address(of: generalProtection)!, 0), 0x80: (code.address(of: int80)!, 3),
        ]).forEach { try machine.load($0.bytes, at: $0.address) }
        try machine.load(
            [UInt8](littleEndian: UInt16(4095)) + [UInt8](littleEndian: Self.kernelBase + Self.earlyIDT), at: Self.idtrImages)
        try machine.load(
            [UInt8](littleEndian: UInt16(4095)) + [UInt8](littleEndian: Self.kernelBase + Self.finalIDT), at: Self.idtrImages + 16)

        var registers = try machine.vcpu.registers()
        registers.rip = code.address(of: boot)!
        try machine.vcpu.setRegisters(registers)
        var special = try machine.vcpu.specialRegisters()
        special.efer |= 1 << 0 | 1 << 11  // SCE, NXE
        special.idt.base = 0
        special.idt.limit = 0  // no IDT until the kernel loads one
        try machine.vcpu.setSpecialRegisters(special)
        let star = UInt64((LongModeSetup.userDataSelector & ~3) - 8) << 48 | UInt64(LongModeSetup.kernelCodeSelector) << 32
        try machine.vcpu.setMSRs([
            Self.msr(0xC000_0081, star), Self.msr(0xC000_0082, lstar), Self.msr(0xC000_0084, Self.syscallMask),
        ])
    }

    /// Moves TR to a TSS at 0x12000 whose I/O bitmap allows `allowing` (and denies every other port).
    func useIOBitmap(allowing: UInt16?) throws {
        let base: UInt64 = 0x12000
        var bitmap = [UInt8](repeating: 0xFF, count: 8192 + 1)
        if let allowing { bitmap[Int(allowing / 8)] &= ~UInt8(1 << (allowing % 8)) }
        try machine.load(bitmap, at: base + 104)
        try machine.load([UInt8](littleEndian: Self.kernelBase + Self.kernelStackTop), at: base + 4)
        try machine.load([UInt8](littleEndian: UInt16(104)), at: base + 102)
        var special = try machine.vcpu.specialRegisters()
        special.tr.base = base
        special.tr.limit = 104 + 8192
        try machine.vcpu.setSpecialRegisters(special)
    }

    /// The 4 KiB IDT image with 64-bit interrupt gates (selector 0x08) for `gates`: vector: (handler, DPL).
    static func writeIDT(at address: UInt64, _ gates: [Int: (UInt64, UInt8)]) -> [(address: UInt64, bytes: [UInt8])] {
        var bytes = [UInt8](repeating: 0, count: 4096)
        for (vector, (handler, dpl)) in gates {
            let low = (handler & 0xFFFF) | 0x08 << 16 | UInt64(0x8E | dpl << 5) << 40 | ((handler >> 16) & 0xFFFF) << 48
            bytes.replaceSubrange(vector * 16 ..< vector * 16 + 16, with: [UInt8](littleEndian: low) + [UInt8](littleEndian: handler >> 32))
        }
        return [(address, bytes)]
    }

    static func msr(_ index: UInt32, _ value: UInt64) -> KVMMSREntry {
        var entry = KVMMSREntry()
        entry.index = index
        entry.data = value
        return entry
    }

    /// How a run ended.
    enum End: Equatable {
        case port(UInt16, cpl: UInt16)
        case hostDefect(HostDefect)
    }

    /// Runs until the guest ends (a port other than the console) or the fix-up reports a defect;
    /// `consoleExits` counts the console exits on the way.
    func run(fixup: UserModeFixup?, consoleExits: inout Int) throws -> End {
        while true {
            let exit = try machine.run()
            if let fixup {
                switch try fixup.handle(exit) {
                case .resumed: continue
                case .hostDefect(let defect): return .hostDefect(defect)
                case .notHandled: break
                }
            }
            guard case .io(let io) = exit else {
                let registers = try machine.vcpu.registers()
                throw GuestFailure("unexpected exit \(exit) at RIP 0x\(String(registers.rip, radix: 16))")
            }
            if io.port == Self.consolePort {
                consoleExits += 1
                continue
            }
            return .port(io.port, cpl: try machine.vcpu.specialRegisters().cs.selector & 3)
        }
    }
}
