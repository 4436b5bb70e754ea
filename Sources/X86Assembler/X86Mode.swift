#if arch(x86_64)
/// The processor mode a piece of guest code is assembled for.
public protocol X86Mode: Sendable {
    /// Bytes in a near jump's or call's displacement: 2 in 16-bit code, 4 otherwise.
    static var nearDisplacementSize: Int { get }
    /// The operand size without a 0x66 prefix: 16 in real mode, 32 otherwise.
    static var defaultOperandSize: Int { get }
    /// Whether REX prefixes (64-bit operands, r8-r15) exist.
    static var isLongMode: Bool { get }
}

/// A mode with flat 32- or 64-bit addressing through a base register (`[base + displacement]`).
public protocol X86FlatAddressingMode: X86Mode {
    /// The registers an address is formed from: ``Reg32`` in 32-bit code, ``Reg64`` in 64-bit code.
    associatedtype AddressRegister: X86GeneralRegister
}

/// 16-bit real mode (the vCPU's state at reset).
public enum Real16: X86Mode {
    public static let nearDisplacementSize = 2
    public static let defaultOperandSize = 16
    public static let isLongMode = false
}

/// 32-bit protected mode (the state the PVH and multiboot entry points start in).
public enum Protected32: X86FlatAddressingMode {
    public typealias AddressRegister = Reg32
    public static let nearDisplacementSize = 4
    public static let defaultOperandSize = 32
    public static let isLongMode = false
}

/// 64-bit long mode.
public enum Long64: X86FlatAddressingMode {
    public typealias AddressRegister = Reg64
    public static let nearDisplacementSize = 4
    public static let defaultOperandSize = 32
    public static let isLongMode = true
}

/// 16-bit real-mode code.
public typealias RealModeCode = X86Code<Real16>
/// 32-bit protected-mode code.
public typealias ProtectedModeCode = X86Code<Protected32>
/// 64-bit long-mode code.
public typealias LongModeCode = X86Code<Long64>
#endif
