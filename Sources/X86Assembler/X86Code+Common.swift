#if arch(x86_64)
// Instructions valid in every mode. 16- and 32-bit operands get the operand-size prefix the mode
// needs; r8d-r15d are refused outside long mode (see `prefixes`).

/// The ALU operations that share the `00`-`3F` opcode pattern and the `80`/`81`/`83` groups.
enum ArithmeticOperation: UInt8 {
    case add = 0, or = 1, and = 4, sub = 5, xor = 6, cmp = 7
}

extension X86Code {
    // MARK: No operands

    public mutating func hlt() { emit(0xF4) }
    public mutating func cli() { emit(0xFA) }
    public mutating func sti() { emit(0xFB) }
    public mutating func nop() { emit(0x90) }
    public mutating func cld() { emit(0xFC) }
    public mutating func pause() { emit(0xF3, 0x90) }
    public mutating func wrmsr() { emit(0x0F, 0x30) }
    public mutating func rdmsr() { emit(0x0F, 0x32) }
    public mutating func rdtsc() { emit(0x0F, 0x31) }
    public mutating func cpuid() { emit(0x0F, 0xA2) }
    /// `ud2`: raises #UD.
    public mutating func ud2() { emit(0x0F, 0x0B) }
    /// `int3`
    public mutating func int3() { emit(0xCC) }
    /// `int imm8`
    public mutating func int(_ vector: UInt8) { emit(0xCD, vector) }
    /// `ret` (near)
    public mutating func ret() { emit(0xC3) }
    /// `lodsb`: al = [si/esi/rsi], advance.
    public mutating func lodsb() { emit(0xAC) }
    /// `stosb`: [di/edi/rdi] = al, advance.
    public mutating func stosb() { emit(0xAA) }

    // MARK: Port I/O

    /// `out dx, al`
    public mutating func outDXAL() { emit(0xEE) }
    /// `out dx, ax`
    public mutating func outDXAX() { if prefixes(width: 16, "out dx, ax") { emit(0xEF) } }
    /// `out imm8, al`
    public mutating func out(port: UInt8) { emit(0xE6, port) }
    /// `in al, dx`
    public mutating func inALDX() { emit(0xEC) }
    /// `in ax, dx`
    public mutating func inAXDX() { if prefixes(width: 16, "in ax, dx") { emit(0xED) } }
    /// `in al, imm8`
    public mutating func `in`(port: UInt8) { emit(0xE4, port) }

    // MARK: Moves

    /// `mov r8, imm8`
    public mutating func mov(_ register: Reg8, _ immediate: UInt8) {
        emit(0xB0 + register.rawValue, immediate)
    }

    /// `mov r16, imm16`
    public mutating func mov(_ register: Reg16, _ immediate: UInt16) {
        guard prefixes(width: 16, "mov \(register), imm16") else { return }
        emit(0xB8 + register.rawValue)
        emit16(immediate)
    }

    /// `mov r32, imm32` (in long mode it zero-extends into the 64-bit register).
    public mutating func mov(_ register: Reg32, _ immediate: UInt32) {
        guard prefixes(width: 32, rm: register.rawValue, "mov \(register), imm32") else { return }
        emit(0xB8 + (register.rawValue & 7))
        emit32(immediate)
    }

    /// `mov r16, label`: the label's absolute address as the immediate.
    public mutating func mov(_ register: Reg16, addressOf label: Label) {
        guard prefixes(width: 16, "mov \(register), label") else { return }
        emit(0xB8 + register.rawValue)
        emitAddress(of: label, size: 2)
    }

    /// `mov r32, label`: the label's absolute address as the immediate.
    public mutating func mov(_ register: Reg32, addressOf label: Label) {
        guard prefixes(width: 32, rm: register.rawValue, "mov \(register), label") else { return }
        emit(0xB8 + (register.rawValue & 7))
        emitAddress(of: label, size: 4)
    }

    /// `mov r8, r8` (destination first)
    public mutating func mov(_ destination: Reg8, _ source: Reg8) { registerOperation(0x88, destination, source) }
    /// `mov r16, r16` (destination first)
    public mutating func mov(_ destination: Reg16, _ source: Reg16) { registerOperation(0x89, destination, source) }
    /// `mov r32, r32` (destination first)
    public mutating func mov(_ destination: Reg32, _ source: Reg32) { registerOperation(0x89, destination, source) }

    /// `mov Sreg, r16`
    public mutating func mov(_ segment: SegmentRegister, _ source: Reg16) {
        guard segment != .cs else { return reject("mov cs, \(source)") }
        emit(0x8E, Self.modRM(mod: 3, reg: segment.rawValue, rm: source.rawValue))
    }

    /// `mov r16, Sreg`
    public mutating func mov(_ destination: Reg16, _ segment: SegmentRegister) {
        guard prefixes(width: 16, "mov \(destination), \(segment)") else { return }
        emit(0x8C, Self.modRM(mod: 3, reg: segment.rawValue, rm: destination.rawValue))
    }

    /// `xchg r16, r16` (the one-byte `90+r` form when one operand is ax).
    public mutating func xchg(_ first: Reg16, _ second: Reg16) { exchange(first, second) }
    /// `xchg r32, r32` (the one-byte `90+r` form when one operand is eax).
    public mutating func xchg(_ first: Reg32, _ second: Reg32) { exchange(first, second) }

    // MARK: Arithmetic

    /// `inc r8`
    public mutating func inc(_ register: Reg8) { emit(0xFE, Self.modRM(mod: 3, reg: 0, rm: register.rawValue)) }
    /// `dec r8`
    public mutating func dec(_ register: Reg8) { emit(0xFE, Self.modRM(mod: 3, reg: 1, rm: register.rawValue)) }
    /// `inc r16` (`40+r` outside long mode, where that byte is a REX prefix).
    public mutating func inc(_ register: Reg16) { incrementOrDecrement(register, extension: 0) }
    /// `dec r16`
    public mutating func dec(_ register: Reg16) { incrementOrDecrement(register, extension: 1) }
    /// `inc r32`
    public mutating func inc(_ register: Reg32) { incrementOrDecrement(register, extension: 0) }
    /// `dec r32`
    public mutating func dec(_ register: Reg32) { incrementOrDecrement(register, extension: 1) }

    /// `add r8, imm8` (the short `04 ib` form for `al`, as GNU as picks).
    public mutating func add(_ register: Reg8, _ immediate: UInt8) { arithmetic(.add, register, immediate) }
    /// `sub r8, imm8`
    public mutating func sub(_ register: Reg8, _ immediate: UInt8) { arithmetic(.sub, register, immediate) }
    /// `and r8, imm8`
    public mutating func and(_ register: Reg8, _ immediate: UInt8) { arithmetic(.and, register, immediate) }
    /// `or r8, imm8`
    public mutating func or(_ register: Reg8, _ immediate: UInt8) { arithmetic(.or, register, immediate) }
    /// `xor r8, imm8`
    public mutating func xor(_ register: Reg8, _ immediate: UInt8) { arithmetic(.xor, register, immediate) }
    /// `cmp r8, imm8`
    public mutating func cmp(_ register: Reg8, _ immediate: UInt8) { arithmetic(.cmp, register, immediate) }

    /// `add r16, imm` (imm8 sign-extended when it fits, else `05 iw` for ax, else `81 /0 iw`).
    public mutating func add(_ register: Reg16, _ immediate: Int16) { arithmetic(.add, register, Int64(immediate)) }
    /// `sub r16, imm`
    public mutating func sub(_ register: Reg16, _ immediate: Int16) { arithmetic(.sub, register, Int64(immediate)) }
    /// `and r16, imm`
    public mutating func and(_ register: Reg16, _ immediate: Int16) { arithmetic(.and, register, Int64(immediate)) }
    /// `or r16, imm`
    public mutating func or(_ register: Reg16, _ immediate: Int16) { arithmetic(.or, register, Int64(immediate)) }
    /// `xor r16, imm`
    public mutating func xor(_ register: Reg16, _ immediate: Int16) { arithmetic(.xor, register, Int64(immediate)) }
    /// `cmp r16, imm`
    public mutating func cmp(_ register: Reg16, _ immediate: Int16) { arithmetic(.cmp, register, Int64(immediate)) }

    /// `add r32, imm` (imm8 sign-extended when it fits, else `05 id` for eax, else `81 /0 id`).
    public mutating func add(_ register: Reg32, _ immediate: Int32) { arithmetic(.add, register, Int64(immediate)) }
    /// `sub r32, imm`
    public mutating func sub(_ register: Reg32, _ immediate: Int32) { arithmetic(.sub, register, Int64(immediate)) }
    /// `and r32, imm`
    public mutating func and(_ register: Reg32, _ immediate: Int32) { arithmetic(.and, register, Int64(immediate)) }
    /// `or r32, imm`
    public mutating func or(_ register: Reg32, _ immediate: Int32) { arithmetic(.or, register, Int64(immediate)) }
    /// `xor r32, imm`
    public mutating func xor(_ register: Reg32, _ immediate: Int32) { arithmetic(.xor, register, Int64(immediate)) }
    /// `cmp r32, imm`
    public mutating func cmp(_ register: Reg32, _ immediate: Int32) { arithmetic(.cmp, register, Int64(immediate)) }

    /// `add r8, r8` (destination first)
    public mutating func add(_ destination: Reg8, _ source: Reg8) { registerOperation(0x00, destination, source) }
    /// `sub r8, r8`
    public mutating func sub(_ destination: Reg8, _ source: Reg8) { registerOperation(0x28, destination, source) }
    /// `xor r8, r8`
    public mutating func xor(_ destination: Reg8, _ source: Reg8) { registerOperation(0x30, destination, source) }
    /// `cmp r8, r8` (first operand first)
    public mutating func cmp(_ first: Reg8, _ second: Reg8) { registerOperation(0x38, first, second) }
    /// `test r8, r8`
    public mutating func test(_ first: Reg8, _ second: Reg8) { registerOperation(0x84, first, second) }

    /// `add r16, r16` (destination first)
    public mutating func add(_ destination: Reg16, _ source: Reg16) { registerOperation(0x01, destination, source) }
    /// `sub r16, r16`
    public mutating func sub(_ destination: Reg16, _ source: Reg16) { registerOperation(0x29, destination, source) }
    /// `and r16, r16`
    public mutating func and(_ destination: Reg16, _ source: Reg16) { registerOperation(0x21, destination, source) }
    /// `or r16, r16`
    public mutating func or(_ destination: Reg16, _ source: Reg16) { registerOperation(0x09, destination, source) }
    /// `xor r16, r16`
    public mutating func xor(_ destination: Reg16, _ source: Reg16) { registerOperation(0x31, destination, source) }
    /// `cmp r16, r16` (first operand first)
    public mutating func cmp(_ first: Reg16, _ second: Reg16) { registerOperation(0x39, first, second) }
    /// `test r16, r16`
    public mutating func test(_ first: Reg16, _ second: Reg16) { registerOperation(0x85, first, second) }

    /// `add r32, r32` (destination first)
    public mutating func add(_ destination: Reg32, _ source: Reg32) { registerOperation(0x01, destination, source) }
    /// `sub r32, r32`
    public mutating func sub(_ destination: Reg32, _ source: Reg32) { registerOperation(0x29, destination, source) }
    /// `and r32, r32`
    public mutating func and(_ destination: Reg32, _ source: Reg32) { registerOperation(0x21, destination, source) }
    /// `or r32, r32`
    public mutating func or(_ destination: Reg32, _ source: Reg32) { registerOperation(0x09, destination, source) }
    /// `xor r32, r32`
    public mutating func xor(_ destination: Reg32, _ source: Reg32) { registerOperation(0x31, destination, source) }
    /// `cmp r32, r32` (first operand first)
    public mutating func cmp(_ first: Reg32, _ second: Reg32) { registerOperation(0x39, first, second) }
    /// `test r32, r32`
    public mutating func test(_ first: Reg32, _ second: Reg32) { registerOperation(0x85, first, second) }

    /// `test r8, imm8` (`A8 ib` for al).
    public mutating func test(_ register: Reg8, _ immediate: UInt8) {
        if register == .al {
            emit(0xA8, immediate)
        } else {
            emit(0xF6, Self.modRM(mod: 3, reg: 0, rm: register.rawValue), immediate)
        }
    }

    /// `test r16, imm16` (`A9 iw` for ax).
    public mutating func test(_ register: Reg16, _ immediate: UInt16) {
        guard prefixes(width: 16, "test \(register), imm16") else { return }
        if register == .ax { emit(0xA9) } else { emit(0xF7, Self.modRM(mod: 3, reg: 0, rm: register.rawValue)) }
        emit16(immediate)
    }

    /// `test r32, imm32` (`A9 id` for eax).
    public mutating func test(_ register: Reg32, _ immediate: UInt32) {
        guard prefixes(width: 32, rm: register.rawValue, "test \(register), imm32") else { return }
        if register == .eax { emit(0xA9) } else { emit(0xF7, Self.modRM(mod: 3, reg: 0, rm: register.rawValue)) }
        emit32(immediate)
    }

    /// `imul r32, r32` (destination first)
    public mutating func imul(_ destination: Reg32, _ source: Reg32) {
        guard prefixes(width: 32, reg: destination.rawValue, rm: source.rawValue, "imul \(destination), \(source)") else { return }
        emit(0x0F, 0xAF, Self.modRM(mod: 3, reg: destination.rawValue, rm: source.rawValue))
    }

    /// `div r32`: edx:eax / r32, quotient in eax, remainder in edx.
    public mutating func div(_ divisor: Reg32) { unaryGroup3(divisor, extension: 6, "div") }
    /// `mul r32`: edx:eax = eax * r32.
    public mutating func mul(_ factor: Reg32) { unaryGroup3(factor, extension: 4, "mul") }
    /// `neg r32`
    public mutating func neg(_ register: Reg32) { unaryGroup3(register, extension: 3, "neg") }
    /// `not r32`
    public mutating func not(_ register: Reg32) { unaryGroup3(register, extension: 2, "not") }

    /// `shl r32, imm8` (`D1 /4` for a count of 1, as GNU as picks).
    public mutating func shl(_ register: Reg32, _ count: UInt8) { shift(register, extension: 4, count) }
    /// `shr r32, imm8`
    public mutating func shr(_ register: Reg32, _ count: UInt8) { shift(register, extension: 5, count) }

    // MARK: Control flow

    /// `jmp label`
    public mutating func jmp(_ label: Label, _ distance: Distance = .short) {
        switch distance {
        case .short:
            emit(0xEB)
            emitDisplacement(to: label, size: 1)
        case .near:
            emit(0xE9)
            emitDisplacement(to: label, size: Mode.nearDisplacementSize)
        }
    }

    /// `jcc label`
    public mutating func j(_ condition: Condition, _ label: Label, _ distance: Distance = .short) {
        switch distance {
        case .short:
            emit(0x70 + condition.rawValue)
            emitDisplacement(to: label, size: 1)
        case .near:
            emit(0x0F, 0x80 + condition.rawValue)
            emitDisplacement(to: label, size: Mode.nearDisplacementSize)
        }
    }

    /// `jne label`
    public mutating func jne(_ label: Label, _ distance: Distance = .short) { j(.notEqual, label, distance) }
    /// `je label`
    public mutating func je(_ label: Label, _ distance: Distance = .short) { j(.equal, label, distance) }

    /// `call label` (near, relative).
    public mutating func call(_ label: Label) {
        emit(0xE8)
        emitDisplacement(to: label, size: Mode.nearDisplacementSize)
    }

    /// `loop label`: decrement cx/ecx/rcx, jump while it is not zero (rel8 only).
    public mutating func loop(_ label: Label) {
        emit(0xE2)
        emitDisplacement(to: label, size: 1)
    }

    // MARK: Shared encodings

    /// `op r/m, reg` with both operands registers: ModRM mod 3, reg = `source`, rm = `destination`.
    mutating func registerOperation<Register: X86GeneralRegister>(_ opcode: UInt8, _ destination: Register, _ source: Register) {
        let highByte = Register.width == 8 && (destination.number >= 4 || source.number >= 4)
        guard prefixes(width: Register.width, reg: source.number, rm: destination.number, highByteRegister: highByte,
                       "\(opcode) \(destination), \(source)") else { return }
        emit(opcode, Self.modRM(mod: 3, reg: source.number, rm: destination.number))
    }

    mutating func arithmetic(_ operation: ArithmeticOperation, _ register: Reg8, _ immediate: UInt8) {
        if register == .al {
            emit(0x04 + (operation.rawValue << 3), immediate)
        } else {
            emit(0x80, Self.modRM(mod: 3, reg: operation.rawValue, rm: register.rawValue), immediate)
        }
    }

    /// `op r, imm` for 16/32/64-bit registers: imm8 sign-extended (`83`) when it fits, the
    /// accumulator's short form, else `81` with a full-size immediate (32 bits for 64-bit operands).
    mutating func arithmetic<Register: X86GeneralRegister>(_ operation: ArithmeticOperation, _ register: Register, _ immediate: Int64) {
        guard prefixes(width: Register.width, rm: register.number, "\(operation) \(register), \(immediate)") else { return }
        if Self.fitsInInt8(immediate) {
            emit(0x83, Self.modRM(mod: 3, reg: operation.rawValue, rm: register.number), UInt8(truncatingIfNeeded: immediate))
            return
        }
        if register.number == 0 {
            emit(0x05 + (operation.rawValue << 3))
        } else {
            emit(0x81, Self.modRM(mod: 3, reg: operation.rawValue, rm: register.number))
        }
        if Register.width == 16 { emit16(UInt16(truncatingIfNeeded: immediate)) } else { emit32(UInt32(truncatingIfNeeded: immediate)) }
    }

    mutating func incrementOrDecrement<Register: X86GeneralRegister>(_ register: Register, extension opcodeExtension: UInt8) {
        let name = opcodeExtension == 0 ? "inc" : "dec"
        guard prefixes(width: Register.width, rm: register.number, "\(name) \(register)") else { return }
        if Mode.isLongMode {
            emit(0xFF, Self.modRM(mod: 3, reg: opcodeExtension, rm: register.number))
        } else {
            emit((opcodeExtension == 0 ? 0x40 : 0x48) + register.number)
        }
    }

    mutating func exchange<Register: X86GeneralRegister>(_ first: Register, _ second: Register) {
        let what = "xchg \(first), \(second)"
        if (first.number == 0) != (second.number == 0) {
            // The accumulator and another register: `90+r`, the register in the opcode (REX.B).
            let other = first.number == 0 ? second.number : first.number
            guard prefixes(width: Register.width, rm: other, what) else { return }
            emit(0x90 + (other & 7))
        } else {
            guard prefixes(width: Register.width, reg: second.number, rm: first.number, what) else { return }
            emit(0x87, Self.modRM(mod: 3, reg: second.number, rm: first.number))
        }
    }

    mutating func unaryGroup3<Register: X86GeneralRegister>(_ register: Register, extension opcodeExtension: UInt8, _ name: String) {
        guard prefixes(width: Register.width, rm: register.number, "\(name) \(register)") else { return }
        emit(0xF7, Self.modRM(mod: 3, reg: opcodeExtension, rm: register.number))
    }

    mutating func shift<Register: X86GeneralRegister>(_ register: Register, extension opcodeExtension: UInt8, _ count: UInt8) {
        guard prefixes(width: Register.width, rm: register.number, "shift \(register)") else { return }
        if count == 1 {
            emit(0xD1, Self.modRM(mod: 3, reg: opcodeExtension, rm: register.number))
        } else {
            emit(0xC1, Self.modRM(mod: 3, reg: opcodeExtension, rm: register.number), count)
        }
    }
}
#endif
