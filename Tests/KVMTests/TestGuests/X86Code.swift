/// The processor mode a piece of test-guest code is assembled for.
protocol X86Mode {
    /// Bytes in a near jump's displacement: 2 in 16-bit code, 4 in 64-bit code.
    static var nearDisplacementSize: Int { get }
}

/// 16-bit real mode (the vCPU's state at reset).
enum Real16: X86Mode {
    static let nearDisplacementSize = 2
}

/// 64-bit long mode.
enum Long64: X86Mode {
    static let nearDisplacementSize = 4
}

/// A tiny x86 assembler for hand-written test guests: each method appends the exact bytes
/// GNU `as` produces for one instruction (checked by `X86CodeEncodingTests`), with labels
/// and rel8/rel16/rel32 fixups.
///
/// The mode is a type parameter, so 16-bit-only instructions (`inc ax` is a REX prefix in
/// 64-bit code) cannot be emitted into long-mode code and vice versa. Instructions valid in
/// both modes live in the unconstrained extension.
struct X86Code<Mode: X86Mode> {
    /// A position in the code, possibly not yet bound.
    struct Label: Hashable {
        fileprivate let id: Int
    }

    /// How far a jump can reach: rel8, or rel16/rel32 (by mode).
    enum Distance {
        case short, near
    }

    enum AssemblyError: Error, Equatable, CustomStringConvertible {
        case unboundLabel(Int)
        case labelBoundTwice(Int)
        case displacementOutOfRange(label: Int, displacement: Int, bytes: Int)
        case unencodable(String)

        var description: String {
            switch self {
            case .unboundLabel(let id): "label \(id) is used but never bound"
            case .labelBoundTwice(let id): "label \(id) is bound twice"
            case .displacementOutOfRange(let id, let displacement, let bytes):
                "jump to label \(id) needs displacement \(displacement), which does not fit in \(bytes) byte(s)"
            case .unencodable(let what): "cannot encode \(what)"
            }
        }
    }

    private struct Fixup {
        var position: Int
        var size: Int
        var label: Label
    }

    /// The guest address the first byte will be loaded at (for ``address(of:)``).
    let origin: UInt64
    private(set) var bytes: [UInt8] = []
    private var labelOffsets: [Int?] = []
    private var fixups: [Fixup] = []
    private var errors: [AssemblyError] = []

    init(origin: UInt64 = 0) {
        self.origin = origin
    }

    // MARK: Labels

    /// A new label, to be bound later with ``bind(_:)``.
    mutating func makeLabel() -> Label {
        labelOffsets.append(nil)
        return Label(id: labelOffsets.count - 1)
    }

    /// Binds `label` to the current position.
    mutating func bind(_ label: Label) {
        if labelOffsets[label.id] != nil { errors.append(.labelBoundTwice(label.id)) }
        labelOffsets[label.id] = bytes.count
    }

    /// A new label bound at the current position.
    mutating func here() -> Label {
        let label = makeLabel()
        bind(label)
        return label
    }

    /// The guest address of a bound label.
    func address(of label: Label) -> UInt64? {
        labelOffsets[label.id].map { origin + UInt64($0) }
    }

    /// The current offset from ``origin``.
    var count: Int { bytes.count }

    // MARK: Raw emission

    mutating func emit(_ raw: UInt8...) {
        bytes.append(contentsOf: raw)
    }

    mutating func emit(_ raw: [UInt8]) {
        bytes.append(contentsOf: raw)
    }

    mutating func emit(repeating byte: UInt8, count: Int) {
        bytes.append(contentsOf: repeatElement(byte, count: count))
    }

    mutating func emit16(_ value: UInt16) {
        emit(UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8))
    }

    mutating func emit32(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { emit(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    mutating func emit64(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { emit(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// Records an encoding the builder refuses; ``assemble()`` then throws it.
    mutating func reject(_ what: String) {
        errors.append(.unencodable(what))
    }

    /// Appends a placeholder displacement to `label`, resolved by ``assemble()``. The
    /// displacement must be the instruction's last field.
    mutating func emitDisplacement(to label: Label, size: Int) {
        fixups.append(Fixup(position: bytes.count, size: size, label: label))
        emit(repeating: 0, count: size)
    }

    /// The finished machine code, with every jump displacement filled in.
    func assemble() throws(AssemblyError) -> [UInt8] {
        if let error = errors.first { throw error }
        var output = bytes
        for fixup in fixups {
            guard let target = labelOffsets[fixup.label.id] else { throw .unboundLabel(fixup.label.id) }
            let displacement = target - (fixup.position + fixup.size)
            let bits = fixup.size * 8
            let range = -(1 << (bits - 1)) ..< (1 << (bits - 1))
            guard range.contains(displacement) else {
                throw .displacementOutOfRange(label: fixup.label.id, displacement: displacement, bytes: fixup.size)
            }
            for index in 0 ..< fixup.size {
                output[fixup.position + index] = UInt8(truncatingIfNeeded: displacement >> (8 * index))
            }
        }
        return output
    }

    // MARK: Encoding helpers

    static func modRM(mod: UInt8, reg: UInt8, rm: UInt8) -> UInt8 {
        (mod << 6) | ((reg & 7) << 3) | (rm & 7)
    }

    static func fitsInInt8(_ value: Int64) -> Bool {
        value >= -128 && value <= 127
    }
}

// MARK: Instructions valid in both modes

extension X86Code {
    mutating func hlt() { emit(0xF4) }
    mutating func cli() { emit(0xFA) }
    mutating func nop() { emit(0x90) }
    mutating func wrmsr() { emit(0x0F, 0x30) }
    mutating func rdmsr() { emit(0x0F, 0x32) }

    /// `out dx, al`
    mutating func outDXAL() { emit(0xEE) }
    /// `out imm8, al`
    mutating func out(port: UInt8) { emit(0xE6, port) }
    /// `in al, dx`
    mutating func inALDX() { emit(0xEC) }
    /// `in al, imm8`
    mutating func `in`(port: UInt8) { emit(0xE4, port) }

    /// `mov r8, imm8`
    mutating func mov(_ register: Reg8, _ immediate: UInt8) {
        emit(0xB0 + register.rawValue, immediate)
    }

    /// `inc r8`
    mutating func inc(_ register: Reg8) { emit(0xFE, Self.modRM(mod: 3, reg: 0, rm: register.rawValue)) }
    /// `dec r8`
    mutating func dec(_ register: Reg8) { emit(0xFE, Self.modRM(mod: 3, reg: 1, rm: register.rawValue)) }

    /// `add r8, imm8` (the short `04 ib` form for `al`, as GNU as picks).
    mutating func add(_ register: Reg8, _ immediate: UInt8) { arithmetic8(extension: 0, register, immediate) }
    /// `cmp r8, imm8`
    mutating func cmp(_ register: Reg8, _ immediate: UInt8) { arithmetic8(extension: 7, register, immediate) }
    /// `add r8, r8` (destination first)
    mutating func add(_ destination: Reg8, _ source: Reg8) {
        emit(0x00, Self.modRM(mod: 3, reg: source.rawValue, rm: destination.rawValue))
    }

    private mutating func arithmetic8(extension opcodeExtension: UInt8, _ register: Reg8, _ immediate: UInt8) {
        if register == .al {
            emit(0x04 + (opcodeExtension << 3), immediate)
        } else {
            emit(0x80, Self.modRM(mod: 3, reg: opcodeExtension, rm: register.rawValue), immediate)
        }
    }

    /// `jmp label`
    mutating func jmp(_ label: Label, _ distance: Distance = .short) {
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
    mutating func j(_ condition: Condition, _ label: Label, _ distance: Distance = .short) {
        switch distance {
        case .short:
            emit(0x70 + condition.rawValue)
            emitDisplacement(to: label, size: 1)
        case .near:
            emit(0x0F, 0x80 + condition.rawValue)
            emitDisplacement(to: label, size: Mode.nearDisplacementSize)
        }
    }

    mutating func jne(_ label: Label, _ distance: Distance = .short) { j(.notEqual, label, distance) }
    mutating func je(_ label: Label, _ distance: Distance = .short) { j(.equal, label, distance) }
}
