/// Guest machine code, hand-assembled one instruction at a time, with labels.
///
/// Each `emit` call is one instruction, its bytes written out with the assembly beside them as a comment
/// (GNU `as` agrees with every one). Jumps and addresses name a label instead of a number: `assembled()`
/// fills in the displacement or the address once every label is bound, so code can be edited without
/// recounting bytes.
public struct MachineCode {
    /// The guest address of the first byte.
    let origin: UInt64
    private(set) var bytes: [UInt8] = []
    private var labels: [String: Int] = [:]
    private var fixups: [(offset: Int, label: String, size: Int, relative: Bool)] = []

    public init(origin: UInt64) { self.origin = origin }

    /// One instruction's bytes (or data).
    public mutating func emit(_ instruction: UInt8...) { bytes += instruction }

    /// Data bytes, e.g. a string.
    public mutating func emit(data: [UInt8]) { bytes += data }

    /// An instruction that ends in a `size`-byte immediate `value` (little-endian).
    public mutating func emit(_ opcode: UInt8..., immediate value: UInt64, size: Int) {
        bytes += opcode
        bytes += (0..<size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    /// An instruction that ends in a `size`-byte displacement from its end to `label` (1 for short jumps).
    public mutating func emit(_ opcode: UInt8..., relativeTo label: String, size: Int = 1) {
        bytes += opcode
        fixups.append((bytes.count, label, size, true))
        bytes += [UInt8](repeating: 0, count: size)
    }

    /// An instruction that ends in `label`'s address as a `size`-byte immediate.
    public mutating func emit(_ opcode: UInt8..., addressOf label: String, size: Int = 4) {
        bytes += opcode
        fixups.append((bytes.count, label, size, false))
        bytes += [UInt8](repeating: 0, count: size)
    }

    /// Names the current position.
    public mutating func bind(_ label: String) {
        precondition(labels[label] == nil, "label \(label) bound twice")
        labels[label] = bytes.count
    }

    public func address(of label: String) -> UInt64 {
        guard let offset = labels[label] else { preconditionFailure("label \(label) is never bound") }
        return origin + UInt64(offset)
    }

    /// The bytes, with every displacement and address filled in.
    public func assembled() -> [UInt8] {
        var result = bytes
        for fixup in fixups {
            let target = Int64(address(of: fixup.label))
            let value = fixup.relative ? target - Int64(origin) - Int64(fixup.offset + fixup.size) : target
            let bits = 8 * fixup.size
            let fits = fixup.relative
                ? value >= -(1 << (bits - 1)) && value < (1 << (bits - 1))
                : bits == 64 || (value >= 0 && value < (1 << bits))
            precondition(fits, "\(fixup.label) is out of reach of a \(fixup.size)-byte field")
            for index in 0..<fixup.size {
                result[fixup.offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index))
            }
        }
        return result
    }
}
