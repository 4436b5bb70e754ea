#if arch(x86_64)
// 16-bit real-mode instructions: direct `[imm16]` memory operands, 16-bit stack operations, far jumps.

extension X86Code where Mode == Real16 {
    /// `push r16`
    public mutating func push(_ register: Reg16) { emit(0x50 + register.rawValue) }
    /// `pop r16`
    public mutating func pop(_ register: Reg16) { emit(0x58 + register.rawValue) }
    /// `pushf`
    public mutating func pushf() { emit(0x9C) }
    /// `popf`
    public mutating func popf() { emit(0x9D) }
    /// `iret` (16-bit frame: IP, CS, FLAGS).
    public mutating func iret() { emit(0xCF) }

    /// `mov [imm16], r8` (the `A2` moffs form for `al`).
    public mutating func store(_ source: Reg8, at address: UInt16) {
        if source == .al { emit(0xA2) } else { emit(0x88, Self.modRM(mod: 0, reg: source.rawValue, rm: 6)) }
        emit16(address)
    }

    /// `mov r8, [imm16]`
    public mutating func load(_ destination: Reg8, from address: UInt16) {
        if destination == .al { emit(0xA0) } else { emit(0x8A, Self.modRM(mod: 0, reg: destination.rawValue, rm: 6)) }
        emit16(address)
    }

    /// `mov [imm16], r16`
    public mutating func store(_ source: Reg16, at address: UInt16) {
        if source == .ax { emit(0xA3) } else { emit(0x89, Self.modRM(mod: 0, reg: source.rawValue, rm: 6)) }
        emit16(address)
    }

    /// `mov r16, [imm16]`
    public mutating func load(_ destination: Reg16, from address: UInt16) {
        if destination == .ax { emit(0xA1) } else { emit(0x8B, Self.modRM(mod: 0, reg: destination.rawValue, rm: 6)) }
        emit16(address)
    }

    /// `mov byte ptr [imm16], imm8`
    public mutating func storeByte(_ immediate: UInt8, at address: UInt16) {
        emit(0xC6, Self.modRM(mod: 0, reg: 0, rm: 6))
        emit16(address)
        emit(immediate)
    }

    /// `mov word ptr [imm16], imm16`
    public mutating func storeWord(_ immediate: UInt16, at address: UInt16) {
        emit(0xC7, Self.modRM(mod: 0, reg: 0, rm: 6))
        emit16(address)
        emit16(immediate)
    }

    /// `mov word ptr [imm16], label`: stores the label's address (e.g. an interrupt vector's offset).
    public mutating func storeWord(addressOf label: Label, at address: UInt16) {
        emit(0xC7, Self.modRM(mod: 0, reg: 0, rm: 6))
        emit16(address)
        emitAddress(of: label, size: 2)
    }

    /// `inc word ptr [imm16]`
    public mutating func incrementWord(at address: UInt16) {
        emit(0xFF, Self.modRM(mod: 0, reg: 0, rm: 6))
        emit16(address)
    }

    /// `lgdt [imm16]` (16-bit operand size: 24-bit base).
    public mutating func lgdt(at address: UInt16) {
        emit(0x0F, 0x01, Self.modRM(mod: 0, reg: 2, rm: 6))
        emit16(address)
    }

    /// `lidt [imm16]` (16-bit operand size: 24-bit base).
    public mutating func lidt(at address: UInt16) {
        emit(0x0F, 0x01, Self.modRM(mod: 0, reg: 3, rm: 6))
        emit16(address)
    }

    /// `mov crN, r32` (control register moves are always 32-bit outside long mode).
    public mutating func mov(_ control: ControlRegister, _ source: Reg32) {
        guard control != .cr8, source.rawValue < 8 else { return reject("mov \(control), \(source) in 16-bit code") }
        emit(0x0F, 0x22, Self.modRM(mod: 3, reg: control.rawValue, rm: source.rawValue))
    }

    /// `mov r32, crN`
    public mutating func mov(_ destination: Reg32, _ control: ControlRegister) {
        guard control != .cr8, destination.rawValue < 8 else { return reject("mov \(destination), \(control) in 16-bit code") }
        emit(0x0F, 0x20, Self.modRM(mod: 3, reg: control.rawValue, rm: destination.rawValue))
    }

    /// `jmp selector:offset` (far jump with a 16-bit offset).
    public mutating func jmpFar(selector: UInt16, offset: UInt16) {
        emit(0xEA)
        emit16(offset)
        emit16(selector)
    }
}
#endif
