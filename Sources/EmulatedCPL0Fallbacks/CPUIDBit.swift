// One CPUID feature bit, as the emulator probe names what to hide from a guest.

/// One bit of one CPUID leaf: what the emulator probe asks a VMM to clear (`KVM_SET_CPUID2`) when the
/// host's KVM cannot run the feature's instruction at CPL0.
public struct CPUIDBit: Hashable, Sendable, CustomStringConvertible {
    public enum Register: String, CaseIterable, Sendable { case eax, ebx, ecx, edx }

    public var leaf: UInt32
    /// nil: every subleaf.
    public var subleaf: UInt32?
    public var register: Register
    /// 0-31.
    public var bit: Int

    public init(leaf: UInt32, subleaf: UInt32? = nil, register: Register, bit: Int) {
        self.leaf = leaf
        self.subleaf = subleaf
        self.register = register
        self.bit = bit
    }

    /// `leaf[.subleaf].register.bit`, e.g. `0x7.0.ebx.20`.
    public var description: String {
        "0x\(String(leaf, radix: 16))\(subleaf.map { ".\($0)" } ?? "").\(register.rawValue).\(bit)"
    }

    public static let xsave = CPUIDBit(leaf: 1, register: .ecx, bit: 26)
    public static let osxsave = CPUIDBit(leaf: 1, register: .ecx, bit: 27)
    public static let cx16 = CPUIDBit(leaf: 1, register: .ecx, bit: 13)
    public static let popcnt = CPUIDBit(leaf: 1, register: .ecx, bit: 23)
    public static let rdrand = CPUIDBit(leaf: 1, register: .ecx, bit: 30)
    public static let fsgsbase = CPUIDBit(leaf: 7, subleaf: 0, register: .ebx, bit: 0)
    public static let invpcid = CPUIDBit(leaf: 7, subleaf: 0, register: .ebx, bit: 10)
    public static let smap = CPUIDBit(leaf: 7, subleaf: 0, register: .ebx, bit: 20)
    public static let rdpid = CPUIDBit(leaf: 7, subleaf: 0, register: .ecx, bit: 22)
    public static let rdtscp = CPUIDBit(leaf: 0x8000_0001, register: .edx, bit: 27)
    public static let pclmulqdq = CPUIDBit(leaf: 1, register: .ecx, bit: 1)
    public static let ssse3 = CPUIDBit(leaf: 1, register: .ecx, bit: 9)
    public static let sse42 = CPUIDBit(leaf: 1, register: .ecx, bit: 20)
    public static let movbe = CPUIDBit(leaf: 1, register: .ecx, bit: 22)
    public static let aes = CPUIDBit(leaf: 1, register: .ecx, bit: 25)
    public static let bmi1 = CPUIDBit(leaf: 7, subleaf: 0, register: .ebx, bit: 3)
    public static let bmi2 = CPUIDBit(leaf: 7, subleaf: 0, register: .ebx, bit: 8)
    public static let adx = CPUIDBit(leaf: 7, subleaf: 0, register: .ebx, bit: 19)
    public static let shaNI = CPUIDBit(leaf: 7, subleaf: 0, register: .ebx, bit: 29)
}
