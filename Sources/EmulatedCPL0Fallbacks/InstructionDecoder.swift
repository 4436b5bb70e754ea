// Just enough x86-64 decoding for the instructions the VMM completes itself (KernelInstructionFallback.swift):
// legacy and REX prefixes, two-byte opcodes, and a ModRM memory operand (SIB, displacement,
// RIP-relative, FS/GS segment override) turned into a linear address.

import KVMBindings

public struct DecodedInstruction: Equatable, Sendable {
    /// The opcode bytes after the prefixes (e.g. [0x0F, 0xAE]).
    public var opcode: [UInt8]
    /// ModRM's reg field (with REX.R), when the instruction has a ModRM byte.
    public var reg: Int
    /// The memory operand's linear address, or nil for a register operand.
    public var address: UInt64?
    /// The whole instruction's length in bytes.
    public var length: Int
}

public enum InstructionDecoder {
    /// Operand-size, repeat and segment prefixes (address-size 0x67 and lock are not supported).
    public static let legacyPrefixes: Set<UInt8> = [0x66, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65]

    /// Decodes a `0F xx /r` instruction in 64-bit mode; nil for anything else (or truncated bytes).
    public static func decodeTwoByteModRM(_ bytes: [UInt8], registers: KVMRegs, special: KVMSRegs) -> DecodedInstruction? {
        var index = 0
        var segmentBase: UInt64 = 0
        while index < bytes.count, legacyPrefixes.contains(bytes[index]) {
            if bytes[index] == 0x64 { segmentBase = special.fs.base }
            if bytes[index] == 0x65 { segmentBase = special.gs.base }
            index += 1
        }
        var rex: UInt8 = 0
        if index < bytes.count, bytes[index] & 0xF0 == 0x40 {
            rex = bytes[index]
            index += 1
        }
        guard index + 2 < bytes.count, bytes[index] == 0x0F else { return nil }
        let opcode = [bytes[index], bytes[index + 1]]
        index += 2
        let modrm = bytes[index]
        index += 1
        let mod = Int(modrm >> 6), rm = Int(modrm & 7) | (rex & 1 != 0 ? 8 : 0)
        let reg = Int((modrm >> 3) & 7) | (rex & 4 != 0 ? 8 : 0)
        guard mod != 3 else { return DecodedInstruction(opcode: opcode, reg: reg, address: nil, length: index) }

        var address: UInt64 = 0
        var ripRelative = false
        if modrm & 7 == 4 {  // SIB
            guard index < bytes.count else { return nil }
            let sib = bytes[index]
            index += 1
            let scale = UInt64(1) << UInt64(sib >> 6)
            let indexRegister = Int((sib >> 3) & 7) | (rex & 2 != 0 ? 8 : 0)
            let baseRegister = Int(sib & 7) | (rex & 1 != 0 ? 8 : 0)
            if indexRegister != 4 { address &+= register(indexRegister, registers) &* scale }
            if sib & 7 == 5 && mod == 0 {
                guard let displacement = signed32(bytes, index) else { return nil }
                address &+= displacement
                index += 4
            } else {
                address &+= register(baseRegister, registers)
            }
        } else if modrm & 7 == 5 && mod == 0 {
            ripRelative = true
        } else {
            address = register(rm, registers)
        }
        if mod == 1 {
            guard index < bytes.count else { return nil }
            address &+= UInt64(bitPattern: Int64(Int8(bitPattern: bytes[index])))
            index += 1
        } else if mod == 2 || ripRelative {
            guard let displacement = signed32(bytes, index) else { return nil }
            address &+= displacement
            index += 4
        }
        if ripRelative { address &+= registers.rip &+ UInt64(index) }
        return DecodedInstruction(opcode: opcode, reg: reg, address: address &+ segmentBase, length: index)
    }

    public static func register(_ number: Int, _ r: KVMRegs) -> UInt64 {
        [r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15][number]
    }

    private static func signed32(_ bytes: [UInt8], _ offset: Int) -> UInt64? {
        guard offset + 4 <= bytes.count else { return nil }
        let value = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
        return UInt64(bitPattern: Int64(Int32(bitPattern: value)))
    }
}
