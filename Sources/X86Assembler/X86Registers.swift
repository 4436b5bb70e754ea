#if arch(x86_64)
/// A general-purpose register operand: its number in ModRM/opcode encodings (0-15) and its width.
public protocol X86GeneralRegister: Sendable, Hashable {
    /// 0-7, or 8-15 for the registers that need REX.
    var number: UInt8 { get }
    /// Operand width in bits.
    static var width: Int { get }
}

/// 8-bit general-purpose registers (the legacy set: ah-bh cannot be used with a REX prefix).
public enum Reg8: UInt8, CaseIterable, X86GeneralRegister {
    case al, cl, dl, bl, ah, ch, dh, bh
    public var number: UInt8 { rawValue }
    public static let width = 8
}

/// 16-bit general-purpose registers.
public enum Reg16: UInt8, CaseIterable, X86GeneralRegister {
    case ax, cx, dx, bx, sp, bp, si, di
    public var number: UInt8 { rawValue }
    public static let width = 16
}

/// 32-bit general-purpose registers (r8d–r15d need a REX prefix, so long mode only).
public enum Reg32: UInt8, CaseIterable, X86GeneralRegister {
    case eax, ecx, edx, ebx, esp, ebp, esi, edi
    case r8d, r9d, r10d, r11d, r12d, r13d, r14d, r15d
    public var number: UInt8 { rawValue }
    public static let width = 32
}

/// 64-bit general-purpose registers (long mode only).
public enum Reg64: UInt8, CaseIterable, X86GeneralRegister {
    case rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi
    case r8, r9, r10, r11, r12, r13, r14, r15
    public var number: UInt8 { rawValue }
    public static let width = 64
}

/// Segment registers, numbered as `mov Sreg` encodes them.
public enum SegmentRegister: UInt8, CaseIterable, Sendable {
    case es, cs, ss, ds, fs, gs
}

/// Control registers reachable with `mov cr, reg`.
public enum ControlRegister: UInt8, CaseIterable, Sendable {
    case cr0 = 0, cr2 = 2, cr3 = 3, cr4 = 4, cr8 = 8
}

/// Jump conditions, numbered as in `Jcc` (0x70 + cc, 0x0F 0x80 + cc).
public enum Condition: UInt8, CaseIterable, Sendable {
    case overflow = 0x0, notOverflow = 0x1, below = 0x2, aboveOrEqual = 0x3
    case equal = 0x4, notEqual = 0x5, belowOrEqual = 0x6, above = 0x7
    case sign = 0x8, notSign = 0x9, parity = 0xA, notParity = 0xB
    case less = 0xC, greaterOrEqual = 0xD, lessOrEqual = 0xE, greater = 0xF

    /// `jz`/`jnz`, `jc`/`jnc` under their other names.
    public static let zero = Condition.equal, notZero = Condition.notEqual
    public static let carry = Condition.below, notCarry = Condition.aboveOrEqual
}
#endif
