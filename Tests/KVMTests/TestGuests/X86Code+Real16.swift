/// 16-bit real-mode instructions.
typealias RealModeCode = X86Code<Real16>

extension X86Code where Mode == Real16 {
    /// `mov r16, imm16`
    mutating func mov(_ register: Reg16, _ immediate: UInt16) {
        emit(0xB8 + register.rawValue)
        emit16(immediate)
    }

    /// `mov r16, r16` (destination first)
    mutating func mov(_ destination: Reg16, _ source: Reg16) {
        emit(0x89, Self.modRM(mod: 3, reg: source.rawValue, rm: destination.rawValue))
    }

    /// `inc r16`
    mutating func inc(_ register: Reg16) { emit(0x40 + register.rawValue) }
    /// `dec r16`
    mutating func dec(_ register: Reg16) { emit(0x48 + register.rawValue) }

    /// `add r16, imm` (imm8 sign-extended when it fits, else `05 iw` for ax, else `81 /0 iw`).
    mutating func add(_ register: Reg16, _ immediate: Int16) { arithmetic16(extension: 0, register, immediate) }
    /// `cmp r16, imm`
    mutating func cmp(_ register: Reg16, _ immediate: Int16) { arithmetic16(extension: 7, register, immediate) }
    /// `add r16, r16` (destination first)
    mutating func add(_ destination: Reg16, _ source: Reg16) {
        emit(0x01, Self.modRM(mod: 3, reg: source.rawValue, rm: destination.rawValue))
    }

    private mutating func arithmetic16(extension opcodeExtension: UInt8, _ register: Reg16, _ immediate: Int16) {
        if Self.fitsInInt8(Int64(immediate)) {
            emit(0x83, Self.modRM(mod: 3, reg: opcodeExtension, rm: register.rawValue), UInt8(bitPattern: Int8(immediate)))
        } else if register == .ax {
            emit(0x05 + (opcodeExtension << 3))
            emit16(UInt16(bitPattern: immediate))
        } else {
            emit(0x81, Self.modRM(mod: 3, reg: opcodeExtension, rm: register.rawValue))
            emit16(UInt16(bitPattern: immediate))
        }
    }

    /// `mov [imm16], r8` (the `A2` moffs form for `al`).
    mutating func store(_ source: Reg8, at address: UInt16) {
        if source == .al { emit(0xA2) } else { emit(0x88, Self.modRM(mod: 0, reg: source.rawValue, rm: 6)) }
        emit16(address)
    }

    /// `mov r8, [imm16]`
    mutating func load(_ destination: Reg8, from address: UInt16) {
        if destination == .al { emit(0xA0) } else { emit(0x8A, Self.modRM(mod: 0, reg: destination.rawValue, rm: 6)) }
        emit16(address)
    }

    /// `mov [imm16], r16`
    mutating func store(_ source: Reg16, at address: UInt16) {
        if source == .ax { emit(0xA3) } else { emit(0x89, Self.modRM(mod: 0, reg: source.rawValue, rm: 6)) }
        emit16(address)
    }

    /// `mov r16, [imm16]`
    mutating func load(_ destination: Reg16, from address: UInt16) {
        if destination == .ax { emit(0xA1) } else { emit(0x8B, Self.modRM(mod: 0, reg: destination.rawValue, rm: 6)) }
        emit16(address)
    }

    /// `mov byte ptr [imm16], imm8`
    mutating func storeByte(_ immediate: UInt8, at address: UInt16) {
        emit(0xC6, Self.modRM(mod: 0, reg: 0, rm: 6))
        emit16(address)
        emit(immediate)
    }

    /// `mov word ptr [imm16], imm16`
    mutating func storeWord(_ immediate: UInt16, at address: UInt16) {
        emit(0xC7, Self.modRM(mod: 0, reg: 0, rm: 6))
        emit16(address)
        emit16(immediate)
    }

    /// `lgdt [imm16]` (16-bit operand size: 24-bit base).
    mutating func lgdt(at address: UInt16) {
        emit(0x0F, 0x01, Self.modRM(mod: 0, reg: 2, rm: 6))
        emit16(address)
    }

    /// `mov crN, r32` (control register moves are always 32-bit outside long mode).
    mutating func mov(_ control: ControlRegister, _ source: Reg32) {
        guard control != .cr8, source.rawValue < 8 else { return reject("mov \(control), \(source) in 16-bit code") }
        emit(0x0F, 0x22, Self.modRM(mod: 3, reg: control.rawValue, rm: source.rawValue))
    }

    /// `mov r32, crN`
    mutating func mov(_ destination: Reg32, _ control: ControlRegister) {
        guard control != .cr8, destination.rawValue < 8 else { return reject("mov \(destination), \(control) in 16-bit code") }
        emit(0x0F, 0x20, Self.modRM(mod: 3, reg: control.rawValue, rm: destination.rawValue))
    }

    /// `jmp selector:offset` (far jump with a 16-bit offset).
    mutating func jmpFar(selector: UInt16, offset: UInt16) {
        emit(0xEA)
        emit16(offset)
        emit16(selector)
    }
}
