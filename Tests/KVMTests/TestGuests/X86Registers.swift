/// x86 registers, numbered as the ModRM/opcode encodings number them.
enum Reg8: UInt8, CaseIterable {
    case al, cl, dl, bl, ah, ch, dh, bh
}

/// 16-bit general-purpose registers.
enum Reg16: UInt8, CaseIterable {
    case ax, cx, dx, bx, sp, bp, si, di
}

/// 32-bit general-purpose registers (r8d–r15d need a REX prefix, so long mode only).
enum Reg32: UInt8, CaseIterable {
    case eax, ecx, edx, ebx, esp, ebp, esi, edi
    case r8d, r9d, r10d, r11d, r12d, r13d, r14d, r15d
}

/// 64-bit general-purpose registers.
enum Reg64: UInt8, CaseIterable {
    case rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi
    case r8, r9, r10, r11, r12, r13, r14, r15
}

/// Control registers reachable with `mov cr, reg`.
enum ControlRegister: UInt8, CaseIterable {
    case cr0 = 0, cr2 = 2, cr3 = 3, cr4 = 4, cr8 = 8
}

/// Jump conditions, numbered as in `Jcc` (0x70 + cc, 0x0F 0x80 + cc).
enum Condition: UInt8 {
    case overflow = 0x0, notOverflow = 0x1, below = 0x2, aboveOrEqual = 0x3
    case equal = 0x4, notEqual = 0x5, belowOrEqual = 0x6, above = 0x7
    case sign = 0x8, notSign = 0x9, less = 0xC, greaterOrEqual = 0xD, lessOrEqual = 0xE, greater = 0xF
}
