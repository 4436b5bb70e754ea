#if arch(x86_64)
/// A small x86 assembler for hand-written guests: each method appends the exact bytes GNU `as`
/// produces for one instruction (the package's `X86AssemblerTests` assemble the same programs with
/// GNU `as` and compare), with labels, relative jumps (rel8/rel16/rel32) and absolute label
/// addresses filled in by ``assemble()``.
///
/// The processor mode is a type parameter (``Real16``, ``Protected32``, ``Long64``), so an
/// instruction that only exists in one mode cannot be emitted into another (`movabs` is long mode
/// only; `inc ax` is a REX prefix in 64-bit code, so there it is `FF /0`), and operand-size
/// prefixes are chosen for the mode. Invalid operand combinations that the types cannot rule out
/// (r8d in 16-bit code, `ah` with a REX prefix) are recorded and make ``assemble()`` throw.
///
/// ```swift
/// var code = LongModeCode(origin: 0x8000)
/// let message = code.makeLabel()
/// code.mov(.esi, addressOf: message)
/// let next = code.here()
/// code.lodsb()
/// code.test(.al, .al)
/// let done = code.makeLabel()
/// code.j(.equal, done)
/// code.out(port: 0xE9)
/// code.jmp(next)
/// code.bind(done)
/// code.hlt()
/// code.bind(message)
/// code.emit(ascii: "hello\n", terminator: 0)
/// let bytes = try code.assemble()
/// ```
public struct X86Code<Mode: X86Mode>: Sendable {
    /// A position in the code, possibly not yet bound.
    public struct Label: Hashable, Sendable {
        fileprivate let id: Int
    }

    /// How far a jump can reach: rel8, or rel16/rel32 (by mode).
    public enum Distance: Sendable {
        case short, near
    }

    /// Why ``assemble()`` refused the code.
    public enum AssemblyError: Error, Equatable, Sendable, CustomStringConvertible {
        case unboundLabel(Int)
        case labelBoundTwice(Int)
        case displacementOutOfRange(label: Int, displacement: Int, bytes: Int)
        /// A label's absolute address (``X86Code/origin`` + offset) does not fit the field.
        case addressOutOfRange(label: Int, address: UInt64, bytes: Int)
        case unencodable(String)

        public var description: String {
            switch self {
            case .unboundLabel(let id): "label \(id) is used but never bound"
            case .labelBoundTwice(let id): "label \(id) is bound twice"
            case .displacementOutOfRange(let id, let displacement, let bytes):
                "jump to label \(id) needs displacement \(displacement), which does not fit in \(bytes) byte(s)"
            case .addressOutOfRange(let id, let address, let bytes):
                "the address 0x\(String(address, radix: 16)) of label \(id) does not fit in \(bytes) byte(s)"
            case .unencodable(let what): "cannot encode \(what)"
            }
        }
    }

    private struct Fixup: Sendable {
        var position: Int
        var size: Int
        var label: Label
        /// Relative to the end of the field (a jump), or the label's absolute address.
        var isRelative: Bool
    }

    /// The guest address the first byte will be loaded at (for ``address(of:)`` and absolute
    /// label references).
    public let origin: UInt64
    /// The bytes so far, with label fields still zero (``assemble()`` fills them in).
    public private(set) var bytes: [UInt8] = []
    private var labelOffsets: [Int?] = []
    private var fixups: [Fixup] = []
    private var errors: [AssemblyError] = []

    public init(origin: UInt64 = 0) {
        self.origin = origin
    }

    // MARK: Labels

    /// A new label, to be bound later with ``bind(_:)``.
    public mutating func makeLabel() -> Label {
        labelOffsets.append(nil)
        return Label(id: labelOffsets.count - 1)
    }

    /// Binds `label` to the current position.
    public mutating func bind(_ label: Label) {
        if labelOffsets[label.id] != nil { errors.append(.labelBoundTwice(label.id)) }
        labelOffsets[label.id] = bytes.count
    }

    /// A new label bound at the current position.
    public mutating func here() -> Label {
        let label = makeLabel()
        bind(label)
        return label
    }

    /// The guest address of a bound label (nil while it is unbound).
    public func address(of label: Label) -> UInt64? {
        labelOffsets[label.id].map { origin + UInt64($0) }
    }

    /// The current offset from ``origin``.
    public var count: Int { bytes.count }

    // MARK: Raw emission and data

    /// Raw bytes: an instruction the builder has no method for, or data.
    public mutating func emit(_ raw: UInt8...) {
        bytes.append(contentsOf: raw)
    }

    /// Raw bytes: an instruction the builder has no method for, or data.
    public mutating func emit(_ raw: [UInt8]) {
        bytes.append(contentsOf: raw)
    }

    /// `count` copies of `byte` (GNU `.fill count, 1, byte`).
    public mutating func emit(repeating byte: UInt8, count: Int) {
        bytes.append(contentsOf: repeatElement(byte, count: count))
    }

    /// A string's UTF-8 bytes, optionally followed by a terminator (0 for a C string).
    public mutating func emit(ascii text: String, terminator: UInt8? = nil) {
        bytes.append(contentsOf: Array(text.utf8))
        if let terminator { bytes.append(terminator) }
    }

    /// A little-endian 16-bit value (`.word`).
    public mutating func emit16(_ value: UInt16) {
        emit(UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8))
    }

    /// A little-endian 32-bit value (`.long`).
    public mutating func emit32(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { emit(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    /// A little-endian 64-bit value (`.quad`).
    public mutating func emit64(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { emit(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// Pads with `byte` up to the next multiple of `alignment` from ``origin`` (`.balign`).
    public mutating func align(_ alignment: Int, with byte: UInt8 = 0x90) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
        let address = origin &+ UInt64(bytes.count)
        let padding = Int((UInt64(alignment) &- (address & UInt64(alignment - 1))) & UInt64(alignment - 1))
        emit(repeating: byte, count: padding)
    }

    /// Records an encoding the builder refuses; ``assemble()`` then throws it.
    public mutating func reject(_ what: String) {
        errors.append(.unencodable(what))
    }

    /// Appends a placeholder displacement to `label`, resolved by ``assemble()``. The
    /// displacement must be the instruction's last field.
    public mutating func emitDisplacement(to label: Label, size: Int) {
        fixups.append(Fixup(position: bytes.count, size: size, label: label, isRelative: true))
        emit(repeating: 0, count: size)
    }

    /// Appends a placeholder for `label`'s absolute address (``origin`` + its offset), `size`
    /// bytes little-endian, resolved by ``assemble()``: an immediate, or data (`.word label`).
    public mutating func emitAddress(of label: Label, size: Int) {
        fixups.append(Fixup(position: bytes.count, size: size, label: label, isRelative: false))
        emit(repeating: 0, count: size)
    }

    /// The finished machine code, with every jump displacement and label address filled in.
    public func assemble() throws(AssemblyError) -> [UInt8] {
        if let error = errors.first { throw error }
        var output = bytes
        for fixup in fixups {
            guard let target = labelOffsets[fixup.label.id] else { throw .unboundLabel(fixup.label.id) }
            let bits = fixup.size * 8
            let value: UInt64
            if fixup.isRelative {
                let displacement = target - (fixup.position + fixup.size)
                let range = -(1 << (bits - 1)) ..< (1 << (bits - 1))
                guard range.contains(displacement) else {
                    throw .displacementOutOfRange(label: fixup.label.id, displacement: displacement, bytes: fixup.size)
                }
                value = UInt64(bitPattern: Int64(displacement))
            } else {
                let (address, overflow) = origin.addingReportingOverflow(UInt64(target))
                guard !overflow, bits == 64 || address >> UInt64(bits) == 0 else {
                    throw .addressOutOfRange(label: fixup.label.id, address: address, bytes: fixup.size)
                }
                value = address
            }
            for index in 0 ..< fixup.size {
                output[fixup.position + index] = UInt8(truncatingIfNeeded: value >> UInt64(8 * index))
            }
        }
        return output
    }

    // MARK: Encoding helpers

    /// A ModRM byte.
    public static func modRM(mod: UInt8, reg: UInt8, rm: UInt8) -> UInt8 {
        (mod << 6) | ((reg & 7) << 3) | (rm & 7)
    }

    static func fitsInInt8(_ value: Int64) -> Bool {
        value >= -128 && value <= 127
    }

    /// Emits the operand-size prefix (0x66) and REX prefix an instruction of `width` bits needs in
    /// this mode, for ModRM `reg` and `rm`/base register numbers (0-15). Returns false (and records
    /// the refusal) when the mode cannot encode it: 64-bit operands or r8-r15 outside long mode, or
    /// ah-bh together with a REX prefix.
    mutating func prefixes(width: Int, reg: UInt8 = 0, rm: UInt8 = 0, highByteRegister: Bool = false, _ what: @autoclosure () -> String) -> Bool {
        let needsREX = width == 64 || reg >= 8 || rm >= 8
        if needsREX && !Mode.isLongMode {
            reject("\(what()) outside long mode")
            return false
        }
        if needsREX && highByteRegister {
            reject(what())
            return false
        }
        if (width == 16 && Mode.defaultOperandSize == 32) || (width == 32 && Mode.defaultOperandSize == 16) {
            emit(0x66)
        }
        if needsREX {
            let w: UInt8 = width == 64 ? 0x08 : 0
            let r: UInt8 = (reg >> 3) & 1
            let b: UInt8 = (rm >> 3) & 1
            emit(0x40 | w | r << 2 | b)
        }
        return true
    }
}
#endif
