#if arch(x86_64)
// Memory operands of 32- and 64-bit code: `[base + displacement]` through a general register.

extension X86Code where Mode: X86FlatAddressingMode {
    /// ModRM (+ SIB, + displacement) for `[base + displacement]`: esp/rsp/r12 need a SIB byte,
    /// ebp/rbp/r13 always a displacement; disp8 when it fits, else disp32.
    mutating func memoryOperand(reg: UInt8, base: Mode.AddressRegister, displacement: Int32) {
        let baseLow = base.number & 7
        let mod: UInt8 = displacement == 0 && baseLow != 5 ? 0 : (Self.fitsInInt8(Int64(displacement)) ? 1 : 2)
        emit(Self.modRM(mod: mod, reg: reg, rm: baseLow))
        if baseLow == 4 { emit(0x24) }  // SIB: no index, base = esp/rsp/r12
        switch mod {
        case 1: emit(UInt8(bitPattern: Int8(displacement)))
        case 2: emit32(UInt32(bitPattern: displacement))
        default: break
        }
    }

    /// `op [base + displacement], reg` / `op reg, [base + displacement]`.
    mutating func memoryInstruction<Register: X86GeneralRegister>(
        _ opcode: UInt8, _ register: Register, _ base: Mode.AddressRegister, _ displacement: Int32, _ what: String
    ) {
        let highByte = Register.width == 8 && register.number >= 4
        guard prefixes(width: Register.width, reg: register.number, rm: base.number, highByteRegister: highByte, what) else { return }
        emit(opcode)
        memoryOperand(reg: register.number, base: base, displacement: displacement)
    }

    /// `mov [base + displacement], r8` (ah-bh cannot be combined with r8-r15 bases).
    public mutating func store(_ source: Reg8, at base: Mode.AddressRegister, displacement: Int32 = 0) {
        memoryInstruction(0x88, source, base, displacement, "mov [\(base)], \(source)")
    }

    /// `mov [base + displacement], r16`
    public mutating func store(_ source: Reg16, at base: Mode.AddressRegister, displacement: Int32 = 0) {
        memoryInstruction(0x89, source, base, displacement, "mov [\(base)], \(source)")
    }

    /// `mov [base + displacement], r32`
    public mutating func store(_ source: Reg32, at base: Mode.AddressRegister, displacement: Int32 = 0) {
        memoryInstruction(0x89, source, base, displacement, "mov [\(base)], \(source)")
    }

    /// `mov r8, [base + displacement]`
    public mutating func load(_ destination: Reg8, from base: Mode.AddressRegister, displacement: Int32 = 0) {
        memoryInstruction(0x8A, destination, base, displacement, "mov \(destination), [\(base)]")
    }

    /// `mov r16, [base + displacement]`
    public mutating func load(_ destination: Reg16, from base: Mode.AddressRegister, displacement: Int32 = 0) {
        memoryInstruction(0x8B, destination, base, displacement, "mov \(destination), [\(base)]")
    }

    /// `mov r32, [base + displacement]`
    public mutating func load(_ destination: Reg32, from base: Mode.AddressRegister, displacement: Int32 = 0) {
        memoryInstruction(0x8B, destination, base, displacement, "mov \(destination), [\(base)]")
    }

    /// `lgdt [base]`
    public mutating func lgdt(at base: Mode.AddressRegister) {
        guard prefixes(width: Mode.defaultOperandSize, rm: base.number, "lgdt [\(base)]") else { return }
        emit(0x0F, 0x01)
        memoryOperand(reg: 2, base: base, displacement: 0)
    }

    /// `lidt [base]`
    public mutating func lidt(at base: Mode.AddressRegister) {
        guard prefixes(width: Mode.defaultOperandSize, rm: base.number, "lidt [\(base)]") else { return }
        emit(0x0F, 0x01)
        memoryOperand(reg: 3, base: base, displacement: 0)
    }

    /// `ltr r16`
    public mutating func ltr(_ selector: Reg16) {
        emit(0x0F, 0x00, Self.modRM(mod: 3, reg: 3, rm: selector.rawValue))
    }

    /// `out dx, eax`
    public mutating func outDXEAX() { emit(0xEF) }
    /// `in eax, dx`
    public mutating func inEAXDX() { emit(0xED) }
}
#endif
