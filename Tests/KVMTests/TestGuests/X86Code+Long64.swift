/// 64-bit long-mode instructions.
typealias LongModeCode = X86Code<Long64>

extension X86Code where Mode == Long64 {
    /// Emits a REX prefix if any bit is set (or `force`).
    private mutating func rex(w: Bool = false, r: UInt8 = 0, b: UInt8 = 0, force: Bool = false) {
        let value: UInt8 = 0x40 | (w ? 8 : 0) | ((r >> 3) & 1) << 2 | ((b >> 3) & 1)
        if value != 0x40 || force { emit(value) }
    }

    /// ModRM (+ SIB / zero disp8) for `[base]`: rsp/r12 need a SIB byte, rbp/r13 a disp8.
    private mutating func memoryOperand(reg: UInt8, base: Reg64) {
        switch base.rawValue & 7 {
        case 4: emit(Self.modRM(mod: 0, reg: reg, rm: 4), 0x24)
        case 5: emit(Self.modRM(mod: 1, reg: reg, rm: 5), 0x00)
        default: emit(Self.modRM(mod: 0, reg: reg, rm: base.rawValue))
        }
    }

    /// `movabs r64, imm64` (always the 10-byte form).
    mutating func movabs(_ register: Reg64, _ immediate: UInt64) {
        rex(w: true, b: register.rawValue)
        emit(0xB8 + (register.rawValue & 7))
        emit64(immediate)
    }

    /// `mov r32, imm32` (zero-extends into the 64-bit register).
    mutating func mov(_ register: Reg32, _ immediate: UInt32) {
        rex(b: register.rawValue)
        emit(0xB8 + (register.rawValue & 7))
        emit32(immediate)
    }

    /// `mov r64, r64` (destination first)
    mutating func mov(_ destination: Reg64, _ source: Reg64) {
        rex(w: true, r: source.rawValue, b: destination.rawValue)
        emit(0x89, Self.modRM(mod: 3, reg: source.rawValue, rm: destination.rawValue))
    }

    /// `mov [base], r64` — an 8-byte store (an MMIO write when `base` points at MMIO).
    mutating func store(_ source: Reg64, at base: Reg64) {
        rex(w: true, r: source.rawValue, b: base.rawValue)
        emit(0x89)
        memoryOperand(reg: source.rawValue, base: base)
    }

    /// `mov [base], r32`
    mutating func store(_ source: Reg32, at base: Reg64) {
        rex(r: source.rawValue, b: base.rawValue)
        emit(0x89)
        memoryOperand(reg: source.rawValue, base: base)
    }

    /// `mov [base], r8` (al…bh; ah…bh cannot be combined with r8–r15 bases).
    mutating func store(_ source: Reg8, at base: Reg64) {
        guard !(source.rawValue >= 4 && base.rawValue >= 8) else { return reject("mov [\(base)], \(source)") }
        rex(b: base.rawValue)
        emit(0x88)
        memoryOperand(reg: source.rawValue, base: base)
    }

    /// `mov r64, [base]` — an 8-byte load.
    mutating func load(_ destination: Reg64, from base: Reg64) {
        rex(w: true, r: destination.rawValue, b: base.rawValue)
        emit(0x8B)
        memoryOperand(reg: destination.rawValue, base: base)
    }

    /// `mov r32, [base]`
    mutating func load(_ destination: Reg32, from base: Reg64) {
        rex(r: destination.rawValue, b: base.rawValue)
        emit(0x8B)
        memoryOperand(reg: destination.rawValue, base: base)
    }

    /// `mov r8, [base]`
    mutating func load(_ destination: Reg8, from base: Reg64) {
        guard !(destination.rawValue >= 4 && base.rawValue >= 8) else { return reject("mov \(destination), [\(base)]") }
        rex(b: base.rawValue)
        emit(0x8A)
        memoryOperand(reg: destination.rawValue, base: base)
    }

    /// `inc r64`
    mutating func inc(_ register: Reg64) {
        rex(w: true, b: register.rawValue)
        emit(0xFF, Self.modRM(mod: 3, reg: 0, rm: register.rawValue))
    }

    /// `dec r64`
    mutating func dec(_ register: Reg64) {
        rex(w: true, b: register.rawValue)
        emit(0xFF, Self.modRM(mod: 3, reg: 1, rm: register.rawValue))
    }

    /// `add r64, imm32` (sign-extended; imm8 form when it fits, `05 id` for rax).
    mutating func add(_ register: Reg64, _ immediate: Int32) { arithmetic64(extension: 0, register, immediate) }
    /// `cmp r64, imm32`
    mutating func cmp(_ register: Reg64, _ immediate: Int32) { arithmetic64(extension: 7, register, immediate) }

    /// `add r64, r64` (destination first)
    mutating func add(_ destination: Reg64, _ source: Reg64) {
        rex(w: true, r: source.rawValue, b: destination.rawValue)
        emit(0x01, Self.modRM(mod: 3, reg: source.rawValue, rm: destination.rawValue))
    }

    /// `cmp r64, r64` (first operand first)
    mutating func cmp(_ first: Reg64, _ second: Reg64) {
        rex(w: true, r: second.rawValue, b: first.rawValue)
        emit(0x39, Self.modRM(mod: 3, reg: second.rawValue, rm: first.rawValue))
    }

    private mutating func arithmetic64(extension opcodeExtension: UInt8, _ register: Reg64, _ immediate: Int32) {
        rex(w: true, b: register.rawValue)
        if Self.fitsInInt8(Int64(immediate)) {
            emit(0x83, Self.modRM(mod: 3, reg: opcodeExtension, rm: register.rawValue), UInt8(bitPattern: Int8(immediate)))
        } else if register == .rax {
            emit(0x05 + (opcodeExtension << 3))
            emit32(UInt32(bitPattern: immediate))
        } else {
            emit(0x81, Self.modRM(mod: 3, reg: opcodeExtension, rm: register.rawValue))
            emit32(UInt32(bitPattern: immediate))
        }
    }

    /// `out dx, eax`
    mutating func outDXEAX() { emit(0xEF) }

    /// `iretq`
    mutating func iretq() { emit(0x48, 0xCF) }

    /// `pushfq`
    mutating func pushfq() { emit(0x9C) }

    /// `push r64`
    mutating func push(_ register: Reg64) {
        rex(b: register.rawValue)
        emit(0x50 + (register.rawValue & 7))
    }

    /// `push imm` (sign-extended to 64 bits; `6A ib` when it fits, else `68 id`).
    mutating func push(_ immediate: Int32) {
        if Self.fitsInInt8(Int64(immediate)) {
            emit(0x6A, UInt8(bitPattern: Int8(immediate)))
        } else {
            emit(0x68)
            emit32(UInt32(bitPattern: immediate))
        }
    }

    /// `lgdt [base]`
    mutating func lgdt(at base: Reg64) {
        rex(b: base.rawValue)
        emit(0x0F, 0x01)
        memoryOperand(reg: 2, base: base)
    }

    /// `lidt [base]`
    mutating func lidt(at base: Reg64) {
        rex(b: base.rawValue)
        emit(0x0F, 0x01)
        memoryOperand(reg: 3, base: base)
    }

    /// `ltr r16`
    mutating func ltr(_ selector: Reg16) {
        emit(0x0F, 0x00, Self.modRM(mod: 3, reg: 3, rm: selector.rawValue))
    }

    /// `mov crN, r64`
    mutating func mov(_ control: ControlRegister, _ source: Reg64) {
        rex(r: control.rawValue, b: source.rawValue)
        emit(0x0F, 0x22, Self.modRM(mod: 3, reg: control.rawValue, rm: source.rawValue))
    }

    /// `mov r64, crN`
    mutating func mov(_ destination: Reg64, _ control: ControlRegister) {
        rex(r: control.rawValue, b: destination.rawValue)
        emit(0x0F, 0x20, Self.modRM(mod: 3, reg: control.rawValue, rm: destination.rawValue))
    }
}
