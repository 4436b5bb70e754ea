/// A Swift mirror of a C record from the KVM headers, with C's exact size, alignment and member offsets.
///
/// Every generated struct conforms. Values are plain bytes (`BitwiseCopyable`), so they can be passed to
/// the kernel by address and copied across threads.
public protocol KVMRecord: BitwiseCopyable, Sendable {
    /// A value with every byte zero, as `memset(&x, 0, sizeof x)` gives in C.
    init()
    /// The C declaration this mirrors, e.g. `struct kvm_regs`.
    static var cName: String { get }
}

extension KVMRecord {
    /// Whether two values have the same bytes (including padding, which the generated `init()` zeroes).
    public func hasSameBytes(as other: Self) -> Bool {
        withUnsafeBytes(of: self) { lhs in withUnsafeBytes(of: other) { rhs in lhs.elementsEqual(rhs) } }
    }

    /// The value's bytes, in memory order.
    public var bytes: [UInt8] { withUnsafeBytes(of: self) { Array($0) } }
}
