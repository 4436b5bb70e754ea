import KVMBindings

// The types the generated `Generated/<arch>/SwiftLayoutTable.<arch>.swift` fills in. The generator emits
// only data; everything that measures lives here.

/// The bits a field occupies, counted from the start of its record: bit `i` of byte `k` is bit
/// `8k + i` (little-endian numbering, as in the manifest's `bitOffset` / `bitWidth`).
struct BitRange: Equatable, Sendable, CustomStringConvertible {
    /// The lowest bit written, or -1 when nothing was written.
    var offset: Int
    /// Highest bit written − lowest bit written + 1.
    var width: Int
    /// Set when a probe saw something a correct accessor never does (clear bits inside the range,
    /// a non-zero `init()`, nothing written). Part of equality, so such a probe never matches.
    var anomaly: String?

    init(offset: Int, width: Int, anomaly: String? = nil) {
        self.offset = offset
        self.width = width
        self.anomaly = anomaly
    }

    var description: String {
        guard width > 0 else { return anomaly ?? "no bits" }
        let text = "bits \(offset)..<\(offset + width) (\(width) bit\(width == 1 ? "" : "s") from byte \(offset / 8) bit \(offset % 8))"
        return anomaly.map { "\(text) [\($0)]" } ?? text
    }

    /// The range of set bits in `bytes`, flagging clear bits between the lowest and the highest.
    static func scan(_ bytes: UnsafeRawBufferPointer) -> BitRange {
        var lowest = -1
        var highest = -1
        var count = 0
        for (index, byte) in bytes.enumerated() where byte != 0 {
            if lowest < 0 { lowest = index * 8 + byte.trailingZeroBitCount }
            highest = index * 8 + 7 - byte.leadingZeroBitCount
            count += byte.nonzeroBitCount
        }
        guard lowest >= 0 else { return BitRange(offset: -1, width: 0, anomaly: "nothing written") }
        let width = highest - lowest + 1
        return BitRange(
            offset: lowest, width: width,
            anomaly: count == width ? nil : "only \(count) of the \(width) bits in the range are set")
    }

    /// Zero a record, let `write` store all-ones through the accessor under test, and report
    /// the bits that changed.
    static func probe<Root: KVMRecord>(_ root: Root.Type, _ write: (inout Root) -> Void) -> BitRange {
        var record = Root()
        let initial = withUnsafeBytes(of: &record) { scan($0) }
        if initial.width != 0 {
            return BitRange(offset: initial.offset, width: initial.width, anomaly: "\(Root.self)() is not all zero: \(initial)")
        }
        write(&record)
        return withUnsafeBytes(of: &record) { scan($0) }
    }

    static func probe<Root: KVMRecord, V: FixedWidthInteger>(_ path: WritableKeyPath<Root, V>) -> BitRange {
        probe(Root.self) { $0[keyPath: path] = ~0 }
    }

    static func probe<Root: KVMRecord, let N: Int, V: FixedWidthInteger>(
        _ path: WritableKeyPath<Root, InlineArray<N, V>>
    ) -> BitRange {
        probe(Root.self) { $0[keyPath: path] = InlineArray(repeating: ~0) }
    }

    static func probe<Root: KVMRecord, let N: Int, let M: Int, V: FixedWidthInteger>(
        _ path: WritableKeyPath<Root, InlineArray<N, InlineArray<M, V>>>
    ) -> BitRange {
        probe(Root.self) { $0[keyPath: path] = InlineArray(repeating: InlineArray(repeating: ~0)) }
    }

    static func probe<Root: KVMRecord>(_ path: WritableKeyPath<Root, Bool>) -> BitRange {
        probe(Root.self) { $0[keyPath: path] = true }
    }
}

/// One field of a record as Swift lays it out. `c` is the manifest's member designator.
struct FieldProbe: Sendable {
    var c: String
    /// `MemoryLayout<Root>.offset(of:)`: nil for computed properties.
    var storedOffset: Int?
    /// Where writing all-ones through the Swift accessor lands; nil for non-integer fields.
    var bits: BitRange?
}

/// One record type as Swift lays it out. `c` is the manifest's C name (`struct kvm_regs`).
struct RecordProbe: Sendable {
    var c: String
    var size: Int
    var alignment: Int
    var fields: [FieldProbe]
}

/// What the Swift compiler sees for one architecture's bindings.
struct SwiftLayoutTable: Sendable {
    var records: [RecordProbe]
    var ioctls: [(String, UInt64)]
    var constants: [(String, Int128)]
}
