import KVMBindings

/// The three ways the random guests start.
enum GuestMode: String {
    /// Real mode (emulated on PVM, like CPL0).
    case real
    /// 64-bit long mode at CPL0 (emulated on PVM: keep runs short).
    case long0
    /// 64-bit long mode at CPL3 (native on PVM).
    case long3
}

/// One random guest: instruction bytes at the entry, general registers, and the segment state.
/// Pure data, generated from the case's random stream alone (so `describe` can print it without a VM).
struct GuestProgram {
    var mode: GuestMode
    var code: [UInt8]
    var codeAddress: UInt64
    /// rax rbx rcx rdx rsi rdi rsp rbp r8-r15.
    var generalRegisters: [UInt64]
    var rflags: UInt64
    /// Real mode: the selector of DS, ES, FS, GS, SS (base = selector × 16) and of CS.
    var selectors: [UInt16]
    var codeSelector: UInt16
    /// Long mode: FS and GS bases.
    var fsBase: UInt64
    var gsBase: UInt64
    /// Mutations of one segment's attributes (segment index: 0 CS, 1 DS, 2 ES, 3 FS, 4 GS, 5 SS, 6 TR),
    /// and flips of control-register bits, that make the state invalid in interesting ways.
    var segmentMutation: SegmentMutation?
    var cr0Flip: UInt64
    /// Long mode: an IDT register pointing at garbage or cut short (the VMM's int3 delivery reads it).
    var idtMutation: (base: UInt64, limit: UInt16)?
    var cr4Flip: UInt64
    var eferFlip: UInt64

    struct SegmentMutation {
        var segment: Int
        var type: UInt8
        var present: UInt8
        var dpl: UInt8
        var db: UInt8
        var s: UInt8
        var l: UInt8
        var g: UInt8
        var limit: UInt32
        var selector: UInt16
    }

    /// Ports that reach a device (COM1, i8042, RTC, debug exit, ACPI, the in-kernel PIC/PIT) or sit
    /// just outside one, where the random guests' port I/O is aimed most of the time.
    static let interestingPorts: [UInt16] = [
        0x3F7, 0x3F8, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0x400, 0x60, 0x61, 0x64, 0x70, 0x71, 0x72,
        0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0x5FF, 0x600, 0x601, 0x602, 0x603, 0x20, 0x21, 0xA0, 0xA1, 0x40, 0x43,
        0x4D0, 0xCF8, 0xCFC, 0xFFFF, 0,
    ]

    /// An empty program, before the first case.
    static var placeholder: GuestProgram {
        var random = FuzzRandom(seed: 0)
        var program = GuestProgram(mode: .real, random: &random)
        program.code = []
        return program
    }

    init(mode: GuestMode, random: inout FuzzRandom) {
        self.mode = mode
        code = Self.instructions(mode: mode, random: &random)
        switch mode {
        case .real:
            codeAddress = random.chance(3) ? UInt64(FuzzMachine.ramSize - 8) : 0x20000 + random.next() % 0x8000
            // CS so that the code lies within the segment's 64 KiB.
            let highestBase = codeAddress >> 4
            codeSelector = UInt16(highestBase - random.next() % min(highestBase, 0xFF0))
        case .long0, .long3:
            codeAddress = random.chance(3) ? UInt64(FuzzMachine.ramSize - 8) : 0x10000 + random.next() % 0xE000
            codeSelector = 0
        }
        generalRegisters = (0..<16).map { _ in random.interesting64() }
        if random.chance(40) { generalRegisters[3] = UInt64(random.pick(Self.interestingPorts)) }  // rdx
        if random.chance(30) { generalRegisters[2] = random.pick([0, 1, 2, 0xFFF, 0x1000, 0x1001, 0xFFFF, 0x1_0000, 0xFFFF_FFFF]) }
        if random.chance(50) { generalRegisters[6] = random.next() % UInt64(FuzzMachine.ramSize) }  // rsp
        var flags: UInt64 = 0x2 | (random.next() & 0x0CD5)  // CF PF AF ZF SF DF OF (+ IF below)
        if random.chance(30) { flags |= 0x200 }  // IF
        if random.chance(5) { flags |= 0x100 }  // TF
        if random.chance(10) { flags |= 0x4_0000 }  // AC
        if random.chance(20) { flags |= (random.next() & 3) << 12 }  // IOPL
        rflags = flags
        selectors = (0..<5).map { _ in random.chance(50) ? 0 : UInt16(truncatingIfNeeded: random.next()) }
        fsBase = random.chance(50) ? 0 : random.interesting64()
        gsBase = random.chance(50) ? 0 : random.interesting64()
        if random.chance(10) {
            segmentMutation = SegmentMutation(
                segment: Int(random.next() % 7), type: UInt8(random.next() % 16), present: UInt8(random.next() % 2),
                dpl: UInt8(random.next() % 4), db: UInt8(random.next() % 2), s: UInt8(random.next() % 2),
                l: UInt8(random.next() % 2), g: UInt8(random.next() % 2),
                limit: random.chance(50) ? 0xFFFF_FFFF : UInt32(truncatingIfNeeded: random.interesting64()),
                selector: UInt16(truncatingIfNeeded: random.next()))
        }
        // CR0: PE MP EM TS ET NE WP AM NW CD PG; CR4: VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT UMIP
        // FSGSBASE PCIDE OSXSAVE SMEP SMAP PKE; EFER: SCE LME LMA NXE.
        let cr0Bits: [UInt64] = [0, 1, 2, 3, 4, 5, 16, 18, 29, 30, 31, 40]
        let cr4Bits: [UInt64] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 20, 21, 22, 40]
        let eferBits: [UInt64] = [0, 8, 10, 11, 12, 20]
        cr0Flip = random.chance(4) ? 1 << random.pick(cr0Bits) : 0
        if mode != .real && random.chance(8) {
            idtMutation = (
                random.pick([0x5000, 0x5008, UInt64(FuzzMachine.ramSize) - 16, 0x20000, random.interesting64()] as [UInt64]),
                random.pick([0, 15, 0x2F, 0x3F, 0xFFF, 0xFFFF, UInt16(truncatingIfNeeded: random.next())] as [UInt16]))
        }
        cr4Flip = random.chance(4) ? 1 << random.pick(cr4Bits) : 0
        eferFlip = random.chance(3) ? 1 << random.pick(eferBits) : 0
    }

    /// Random bytes, or a mix of random bytes and instructions that reach the interesting parts of
    /// the VMM and of KVM: port and string I/O (with huge counts), MMIO, privileged and system
    /// instructions, control registers, MSRs, descriptor tables, interrupts.
    static func instructions(mode: GuestMode, random: inout FuzzRandom) -> [UInt8] {
        let long = mode != .real
        let length: Int
        switch random.next() % 10 {
        case 0..<3: length = 1 + Int(random.next() % 15)
        case 3..<7: length = 16 + Int(random.next() % 48)
        default: length = 64 + Int(random.next() % 448)
        }
        if random.chance(45) { return random.bytes(length) }
        var bytes: [UInt8] = []
        while bytes.count < length {
            let port = random.pick(interestingPorts)
            let low = UInt8(port & 0xFF), high = UInt8(port >> 8)
            let count = random.pick([0, 1, 2, 3, 0xFFF, 0x1000, 0x1001, 0x4000, 0xFFFF, 0xFFFF_FFFF] as [UInt32])
            let c: [UInt8] = [UInt8(count & 0xFF), UInt8((count >> 8) & 0xFF), UInt8((count >> 16) & 0xFF), UInt8(count >> 24)]
            let address = random.pick([
                UInt64(FuzzMachine.ramSize), UInt64(FuzzMachine.ramSize) - 2, 0xFEE0_0000, 0xFEC0_0000, 0xFED0_0000,
                0xE000_0000, 0xFFFF_FFF0, 0x1_0000_0000, 0x3FFF_FFF8, random.next() % 0x4000_0000,
            ] as [UInt64])
            let a: [UInt8] = (0..<4).map { UInt8(truncatingIfNeeded: address >> (8 * $0)) }
            let snippet: [UInt8]
            switch random.next() % 40 {
            case 0: snippet = long ? [0x66, 0xBA, low, high] : [0xBA, low, high]                 // mov dx, port
            case 1: snippet = long ? [0xB9] + c : [0x66, 0xB9] + c                               // mov ecx, count
            case 2: snippet = [random.pick([0xEE, 0xEF, 0xEC, 0xED] as [UInt8])]                  // out/in dx
            case 3: snippet = [0x66, random.pick([0xEF, 0xED] as [UInt8])]                        // 16-bit out/in dx
            case 4: snippet = [random.pick([0xE6, 0xE4, 0xE7, 0xE5] as [UInt8]), low]             // out/in imm8
            case 5: snippet = [0xF3, random.pick([0x6C, 0x6D, 0x6E, 0x6F] as [UInt8])]            // rep ins/outs
            case 6: snippet = [0x67, 0xF3, random.pick([0x6C, 0x6D, 0x6E, 0x6F] as [UInt8])]      // address-size rep ins/outs
            case 7: snippet = [0x66, 0xF3, random.pick([0x6D, 0x6F] as [UInt8])]                  // rep insw/outsw
            case 8: snippet = long ? [0x48, 0xB8] + a + [0, 0, 0, 0] : [0x66, 0xB8] + a         // mov rax, address
            case 9: snippet = random.pick([[0x88, 0x00], [0x66, 0x89, 0x00], [0x89, 0x00], [0x48, 0x89, 0x00], [0x8A, 0x00], [0x8B, 0x00], [0x48, 0x8B, 0x00]] as [[UInt8]])  // MMIO store/load [rax]
            case 10: snippet = [0x67] + random.pick([[0x89, 0x00], [0x8B, 0x00], [0x88, 0x00]] as [[UInt8]])  // MMIO through eax
            case 11: snippet = [random.pick([0xF4, 0xFA, 0xFB, 0xCC, 0xCE, 0xCF, 0xF1, 0x9C, 0x9D, 0xC3, 0xCB] as [UInt8])]
            case 12: snippet = [0xCD, UInt8(truncatingIfNeeded: random.next())]                  // int n
            case 13: snippet = random.pick([[0x0F, 0x0B], [0x0F, 0x05], [0x0F, 0x07], [0x48, 0x0F, 0x07], [0x0F, 0x34], [0x0F, 0x35], [0x0F, 0xAA]] as [[UInt8]])
            case 14: snippet = random.pick([[0x0F, 0x30], [0x0F, 0x32], [0x0F, 0x31], [0x0F, 0xA2], [0x0F, 0x01, 0xF9], [0x0F, 0xC7, 0xF0]] as [[UInt8]])
            case 15: snippet = [0x0F, random.pick([0x22, 0x20] as [UInt8]), random.pick([0xC0, 0xD0, 0xD8, 0xE0, 0xC3, 0xC1] as [UInt8])]  // mov cr
            case 16: snippet = [0x0F, random.pick([0x23, 0x21] as [UInt8]), UInt8(0xC0 | random.next() % 64)]  // mov dr
            case 17: snippet = [0xB9, 0x80, 0x00, 0x00, 0xC0] + [0x0F, random.pick([0x30, 0x32] as [UInt8])]  // EFER
            case 18: snippet = [0xB9] + random.pick([[0x1B, 0x00, 0x00, 0x00], [0x82, 0x00, 0x00, 0xC0], [0x00, 0x01, 0x00, 0xC0], [0x02, 0x01, 0x00, 0xC0], [0x10, 0x00, 0x00, 0x00], [0xE0, 0x06, 0x00, 0x00], [0x00, 0x08, 0x00, 0x00]] as [[UInt8]]) + [0x0F, 0x30]
            case 19: snippet = random.pick([[0x0F, 0x01, 0x10], [0x0F, 0x01, 0x18], [0x0F, 0x00, 0xD8], [0x0F, 0x00, 0xD0], [0x0F, 0x01, 0x38], [0x0F, 0x01, 0xF8]] as [[UInt8]])  // lgdt lidt ltr lldt invlpg swapgs
            case 20: snippet = [0x8E, random.pick([0xD8, 0xC0, 0xD0, 0xE0, 0xE8] as [UInt8])]   // mov seg, ax
            case 21: snippet = random.pick([[0x0F, 0x01, 0xD0], [0x0F, 0x01, 0xD1], [0x0F, 0xAE, 0x28], [0x0F, 0xAE, 0x10], [0x0F, 0xAE, 0x18], [0xDB, 0xE3], [0x9B], [0x0F, 0xAE, 0x08], [0x0F, 0xAE, 0x00]] as [[UInt8]])  // xgetbv xsetbv xrstor ldmxcsr stmxcsr fninit fwait fxrstor fxsave
            case 22: snippet = random.pick([[0x0F, 0x01, 0xD9], [0x0F, 0x01, 0xC1], [0x0F, 0x01, 0xC8], [0x0F, 0x01, 0xC9], [0x0F, 0x09], [0x0F, 0x08], [0x0F, 0x01, 0xCA], [0x0F, 0x01, 0xCB]] as [[UInt8]])  // vmmcall vmcall monitor mwait wbinvd invd clac stac
            case 23: snippet = random.pick([[0x48, 0x0F, 0xC7, 0x0E], [0xF0, 0x0F, 0xC7, 0x0E], [0xF0, 0x48, 0x0F, 0xC7, 0x0E], [0xF3, 0xA4], [0xF3, 0x48, 0xA5], [0xF3, 0xAA]] as [[UInt8]])  // cmpxchg8b/16b, rep movs/stos
            case 24: snippet = random.pick([[0xEB, 0xFE], [0xE2, 0xFE], [0xFF, 0xE0], [0xFF, 0xD0], [0xEB, 0x00]] as [[UInt8]])  // spin, loop, jmp/call rax
            case 25: snippet = [0xEA] + random.bytes(long ? 6 : 4)                                 // far jmp (invalid in 64-bit)
            case 26: snippet = [0xFF, random.pick([0x28, 0x18] as [UInt8])]                       // far jmp/call [rax]
            case 27: snippet = [0x0F, 0x01, random.pick([0x00, 0x08, 0xE0, 0xF0] as [UInt8])]    // sgdt sidt smsw lmsw
            case 28: snippet = random.pick([[0xCC], [0x9B], [0x0F, 0xAE, 0x10], [0x0F, 0xAE, 0x18], [0x0F, 0xAE, 0x14, 0x24], [0x0F, 0xAE, 0x1C, 0x24], [0x0F, 0xAE, 0x90] + random.bytes(4), [0x48, 0x89, 0xC4], [0x48, 0x31, 0xE4]] as [[UInt8]])  // int3 fwait ldmxcsr stmxcsr (rsp-relative too), mov rsp,rax, xor rsp,rsp
            default: snippet = random.bytes(1 + Int(random.next() % 6))
            }
            bytes += snippet
        }
        return Array(bytes.prefix(max(length, 1)))
    }

    /// The general registers as `KVMRegs`, with RIP and RFLAGS.
    func registers(rip: UInt64) -> KVMRegs {
        var registers = KVMRegs()
        let g = generalRegisters
        registers.rax = g[0]; registers.rbx = g[1]; registers.rcx = g[2]; registers.rdx = g[3]
        registers.rsi = g[4]; registers.rdi = g[5]; registers.rsp = g[6]; registers.rbp = g[7]
        registers.r8 = g[8]; registers.r9 = g[9]; registers.r10 = g[10]; registers.r11 = g[11]
        registers.r12 = g[12]; registers.r13 = g[13]; registers.r14 = g[14]; registers.r15 = g[15]
        registers.rip = rip
        registers.rflags = rflags
        if mode == .real {
            // Real mode: 16-bit IP, and a stack inside SS.
            registers.rsp &= 0xFFFF
        }
        return registers
    }

    /// Applies the mutations to special registers that the mode's template produced.
    func mutate(_ special: inout KVMSRegs) {
        special.cr0 ^= cr0Flip
        special.cr4 ^= cr4Flip
        special.efer ^= eferFlip
        guard let mutation = segmentMutation else { return }
        func apply(_ segment: inout KVMSegment) {
            segment.type = mutation.type
            segment.present = mutation.present
            segment.dpl = mutation.dpl
            segment.db = mutation.db
            segment.s = mutation.s
            segment.l = mutation.l
            segment.g = mutation.g
            segment.limit = mutation.limit
            segment.selector = mutation.selector
        }
        switch mutation.segment {
        case 0: apply(&special.cs)
        case 1: apply(&special.ds)
        case 2: apply(&special.es)
        case 3: apply(&special.fs)
        case 4: apply(&special.gs)
        case 5: apply(&special.ss)
        default: apply(&special.tr)
        }
    }

    var json: String {
        var fields = [
            "\"mode\": \"\(mode.rawValue)\"", "\"code\": \(jsonBytes(code))", "\"codeAddress\": \"\(hex(codeAddress))\"",
            "\"registers\": [" + generalRegisters.map { "\"\(hex($0))\"" }.joined(separator: ", ") + "]",
            "\"rflags\": \"\(hex(rflags))\"",
        ]
        if mode == .real {
            fields.append("\"cs\": \"\(hex(codeSelector))\"")
            fields.append("\"selectors(ds,es,fs,gs,ss)\": [" + selectors.map { "\"\(hex($0))\"" }.joined(separator: ", ") + "]")
        } else {
            fields.append("\"fsBase\": \"\(hex(fsBase))\", \"gsBase\": \"\(hex(gsBase))\"")
        }
        if let m = segmentMutation {
            fields.append(
                "\"segmentMutation\": {\"segment\": \(m.segment), \"type\": \(m.type), \"present\": \(m.present), \"dpl\": \(m.dpl), "
                    + "\"db\": \(m.db), \"s\": \(m.s), \"l\": \(m.l), \"g\": \(m.g), \"limit\": \"\(hex(m.limit))\", \"selector\": \"\(hex(m.selector))\"}")
        }
        if let idt = idtMutation { fields.append("\"idt\": {\"base\": \"\(hex(idt.base))\", \"limit\": \"\(hex(idt.limit))\"}") }
        fields.append("\"cr0Flip\": \"\(hex(cr0Flip))\", \"cr4Flip\": \"\(hex(cr4Flip))\", \"eferFlip\": \"\(hex(eferFlip))\"")
        return "{" + fields.joined(separator: ", ") + "}"
    }
}
