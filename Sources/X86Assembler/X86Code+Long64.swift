#if arch(x86_64)
// 64-bit long-mode instructions: 64-bit operands (REX.W), r8-r15, the 64-bit stack, `iretq`.

extension X86Code where Mode == Long64 {
    /// `movabs r64, imm64` (always the 10-byte form).
    public mutating func movabs(_ register: Reg64, _ immediate: UInt64) {
        guard prefixes(width: 64, rm: register.rawValue, "movabs \(register)") else { return }
        emit(0xB8 + (register.rawValue & 7))
        emit64(immediate)
    }

    /// `movabs r64, label`: the label's 64-bit absolute address.
    public mutating func movabs(_ register: Reg64, addressOf label: Label) {
        guard prefixes(width: 64, rm: register.rawValue, "movabs \(register), label") else { return }
        emit(0xB8 + (register.rawValue & 7))
        emitAddress(of: label, size: 8)
    }

    /// `mov r64, r64` (destination first)
    public mutating func mov(_ destination: Reg64, _ source: Reg64) { registerOperation(0x89, destination, source) }

    /// `mov [base + displacement], r64`: an 8-byte store (an MMIO write when `base` points at MMIO).
    public mutating func store(_ source: Reg64, at base: Reg64, displacement: Int32 = 0) {
        memoryInstruction(0x89, source, base, displacement, "mov [\(base)], \(source)")
    }

    /// `mov r64, [base + displacement]`: an 8-byte load.
    public mutating func load(_ destination: Reg64, from base: Reg64, displacement: Int32 = 0) {
        memoryInstruction(0x8B, destination, base, displacement, "mov \(destination), [\(base)]")
    }

    /// `inc r64`
    public mutating func inc(_ register: Reg64) { incrementOrDecrement(register, extension: 0) }
    /// `dec r64`
    public mutating func dec(_ register: Reg64) { incrementOrDecrement(register, extension: 1) }

    /// `add r64, imm32` (sign-extended; imm8 form when it fits, `05 id` for rax).
    public mutating func add(_ register: Reg64, _ immediate: Int32) { arithmetic(.add, register, Int64(immediate)) }
    /// `sub r64, imm32`
    public mutating func sub(_ register: Reg64, _ immediate: Int32) { arithmetic(.sub, register, Int64(immediate)) }
    /// `and r64, imm32`
    public mutating func and(_ register: Reg64, _ immediate: Int32) { arithmetic(.and, register, Int64(immediate)) }
    /// `or r64, imm32`
    public mutating func or(_ register: Reg64, _ immediate: Int32) { arithmetic(.or, register, Int64(immediate)) }
    /// `xor r64, imm32`
    public mutating func xor(_ register: Reg64, _ immediate: Int32) { arithmetic(.xor, register, Int64(immediate)) }
    /// `cmp r64, imm32`
    public mutating func cmp(_ register: Reg64, _ immediate: Int32) { arithmetic(.cmp, register, Int64(immediate)) }

    /// `add r64, r64` (destination first)
    public mutating func add(_ destination: Reg64, _ source: Reg64) { registerOperation(0x01, destination, source) }
    /// `sub r64, r64`
    public mutating func sub(_ destination: Reg64, _ source: Reg64) { registerOperation(0x29, destination, source) }
    /// `and r64, r64`
    public mutating func and(_ destination: Reg64, _ source: Reg64) { registerOperation(0x21, destination, source) }
    /// `or r64, r64`
    public mutating func or(_ destination: Reg64, _ source: Reg64) { registerOperation(0x09, destination, source) }
    /// `xor r64, r64`
    public mutating func xor(_ destination: Reg64, _ source: Reg64) { registerOperation(0x31, destination, source) }
    /// `cmp r64, r64` (first operand first)
    public mutating func cmp(_ first: Reg64, _ second: Reg64) { registerOperation(0x39, first, second) }
    /// `test r64, r64`
    public mutating func test(_ first: Reg64, _ second: Reg64) { registerOperation(0x85, first, second) }

    /// `imul r64, r64` (destination first)
    public mutating func imul(_ destination: Reg64, _ source: Reg64) {
        guard prefixes(width: 64, reg: destination.rawValue, rm: source.rawValue, "imul") else { return }
        emit(0x0F, 0xAF, Self.modRM(mod: 3, reg: destination.rawValue, rm: source.rawValue))
    }

    /// `div r64`: rdx:rax / r64.
    public mutating func div(_ divisor: Reg64) { unaryGroup3(divisor, extension: 6, "div") }
    /// `shl r64, imm8`
    public mutating func shl(_ register: Reg64, _ count: UInt8) { shift(register, extension: 4, count) }
    /// `shr r64, imm8`
    public mutating func shr(_ register: Reg64, _ count: UInt8) { shift(register, extension: 5, count) }

    /// `iretq`
    public mutating func iretq() { emit(0x48, 0xCF) }
    /// `sysretq`
    public mutating func sysretq() { emit(0x48, 0x0F, 0x07) }
    /// `syscall`
    public mutating func syscall() { emit(0x0F, 0x05) }
    /// `swapgs`
    public mutating func swapgs() { emit(0x0F, 0x01, 0xF8) }

    /// `pushfq`
    public mutating func pushfq() { emit(0x9C) }
    /// `popfq`
    public mutating func popfq() { emit(0x9D) }

    /// `push r64`
    public mutating func push(_ register: Reg64) {
        guard prefixes(width: 32, rm: register.rawValue, "push \(register)") else { return }
        emit(0x50 + (register.rawValue & 7))
    }

    /// `pop r64`
    public mutating func pop(_ register: Reg64) {
        guard prefixes(width: 32, rm: register.rawValue, "pop \(register)") else { return }
        emit(0x58 + (register.rawValue & 7))
    }

    /// `push imm` (sign-extended to 64 bits; `6A ib` when it fits, else `68 id`).
    public mutating func push(_ immediate: Int32) {
        if Self.fitsInInt8(Int64(immediate)) {
            emit(0x6A, UInt8(bitPattern: Int8(immediate)))
        } else {
            emit(0x68)
            emit32(UInt32(bitPattern: immediate))
        }
    }

    /// `mov crN, r64`
    public mutating func mov(_ control: ControlRegister, _ source: Reg64) {
        guard prefixes(width: 32, reg: control.rawValue, rm: source.rawValue, "mov \(control), \(source)") else { return }
        emit(0x0F, 0x22, Self.modRM(mod: 3, reg: control.rawValue, rm: source.rawValue))
    }

    /// `mov r64, crN`
    public mutating func mov(_ destination: Reg64, _ control: ControlRegister) {
        guard prefixes(width: 32, reg: control.rawValue, rm: destination.rawValue, "mov \(destination), \(control)") else { return }
        emit(0x0F, 0x20, Self.modRM(mod: 3, reg: control.rawValue, rm: destination.rawValue))
    }
}
#endif
