#if arch(x86_64)
// 32-bit protected-mode instructions: the 32-bit stack, control registers, far jumps.

extension X86Code where Mode == Protected32 {
    /// `push r32`
    public mutating func push(_ register: Reg32) {
        guard register.rawValue < 8 else { return reject("push \(register) outside long mode") }
        emit(0x50 + register.rawValue)
    }

    /// `pop r32`
    public mutating func pop(_ register: Reg32) {
        guard register.rawValue < 8 else { return reject("pop \(register) outside long mode") }
        emit(0x58 + register.rawValue)
    }

    /// `push imm` (sign-extended to 32 bits; `6A ib` when it fits, else `68 id`).
    public mutating func push(_ immediate: Int32) {
        if Self.fitsInInt8(Int64(immediate)) {
            emit(0x6A, UInt8(bitPattern: Int8(immediate)))
        } else {
            emit(0x68)
            emit32(UInt32(bitPattern: immediate))
        }
    }

    /// `pushfd`
    public mutating func pushfd() { emit(0x9C) }
    /// `popfd`
    public mutating func popfd() { emit(0x9D) }
    /// `iretd`
    public mutating func iretd() { emit(0xCF) }

    /// `mov crN, r32`
    public mutating func mov(_ control: ControlRegister, _ source: Reg32) {
        guard control != .cr8, source.rawValue < 8 else { return reject("mov \(control), \(source) in 32-bit code") }
        emit(0x0F, 0x22, Self.modRM(mod: 3, reg: control.rawValue, rm: source.rawValue))
    }

    /// `mov r32, crN`
    public mutating func mov(_ destination: Reg32, _ control: ControlRegister) {
        guard control != .cr8, destination.rawValue < 8 else { return reject("mov \(destination), \(control) in 32-bit code") }
        emit(0x0F, 0x20, Self.modRM(mod: 3, reg: control.rawValue, rm: destination.rawValue))
    }

    /// `jmp selector:offset` (far jump with a 32-bit offset, e.g. into a 64-bit code segment).
    public mutating func jmpFar(selector: UInt16, offset: UInt32) {
        emit(0xEA)
        emit32(offset)
        emit16(selector)
    }
}
#endif
