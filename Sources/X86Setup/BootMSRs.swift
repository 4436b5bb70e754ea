#if arch(x86_64)
import KVM
import KVMBindings

/// An MSR index. An open set: any index can be named.
public struct ModelSpecificRegister: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    public static let timeStampCounter = ModelSpecificRegister(0x10)
    public static let apicBase = ModelSpecificRegister(0x1B)
    public static let sysenterCS = ModelSpecificRegister(0x174)
    public static let sysenterESP = ModelSpecificRegister(0x175)
    public static let sysenterEIP = ModelSpecificRegister(0x176)
    /// IA32_MISC_ENABLE; bit 0 enables fast strings (`rep movs`/`stos`).
    public static let miscEnable = ModelSpecificRegister(0x1A0)
    /// IA32_PAT.
    public static let pageAttributeTable = ModelSpecificRegister(0x277)
    /// IA32_MTRR_DEF_TYPE: bit 11 enables the MTRRs, bits 7:0 the default memory type.
    public static let mtrrDefaultType = ModelSpecificRegister(0x2FF)
    public static let efer = ModelSpecificRegister(0xC000_0080)
    /// STAR: `syscall`/`sysret` selectors.
    public static let star = ModelSpecificRegister(0xC000_0081)
    /// LSTAR: the 64-bit `syscall` entry point.
    public static let lstar = ModelSpecificRegister(0xC000_0082)
    /// CSTAR: the compatibility-mode `syscall` entry point.
    public static let cstar = ModelSpecificRegister(0xC000_0083)
    /// SFMASK: RFLAGS bits `syscall` clears.
    public static let syscallFlagMask = ModelSpecificRegister(0xC000_0084)
    public static let fsBase = ModelSpecificRegister(0xC000_0100)
    public static let gsBase = ModelSpecificRegister(0xC000_0101)
    public static let kernelGSBase = ModelSpecificRegister(0xC000_0102)
    public static let tscAux = ModelSpecificRegister(0xC000_0103)
    /// AMD HWCR; bit 24 (TscFreqSel) says the TSC counts at the P0 frequency.
    public static let amdHardwareConfiguration = ModelSpecificRegister(0xC001_0015)

    public var description: String { "MSR 0x" + String(rawValue, radix: 16) }
}

/// The MSR values a firmware leaves and a Linux guest expects at entry.
public enum BootMSRs {
    /// One MSR and its value.
    public struct Value: Hashable, Sendable {
        public var register: ModelSpecificRegister
        public var value: UInt64

        public init(_ register: ModelSpecificRegister, _ value: UInt64) {
            self.register = register
            self.value = value
        }

        public var kvmEntry: KVMMSREntry {
            var entry = KVMMSREntry()
            entry.index = register.rawValue
            entry.data = value
            return entry
        }
    }

    /// SYSENTER and SYSCALL MSRs, KERNEL_GS_BASE and the TSC zero; fast strings on; PAT at its
    /// power-on value (WB, WT, UC-, UC twice); MTRRs enabled with write-back as the default type;
    /// AMD's HWCR.TscFreqSel, as firmware sets it (else Linux warns "[Firmware Bug]: TSC doesn't
    /// count with P0 frequency!"). KVM on Intel refuses the last one: ``set(on:supported:)`` reports it.
    public static let values: [Value] = [
        Value(.sysenterCS, 0), Value(.sysenterESP, 0), Value(.sysenterEIP, 0),
        Value(.star, 0), Value(.lstar, 0), Value(.cstar, 0), Value(.syscallFlagMask, 0),
        Value(.kernelGSBase, 0),
        Value(.timeStampCounter, 0),
        Value(.miscEnable, 1),
        Value(.pageAttributeTable, 0x0007_0406_0007_0406),
        Value(.mtrrDefaultType, 1 << 11 | 6),
        Value(.amdHardwareConfiguration, 1 << 24),
    ]

    /// The entries to set: ``values`` restricted to the MSRs in `supported` (KVM_GET_MSR_INDEX_LIST
    /// and KVM_GET_MSR_FEATURE_INDEX_LIST), or all of them when `supported` is nil.
    public static func entries(supported: Set<UInt32>?) -> [KVMMSREntry] {
        values.filter { supported?.contains($0.register.rawValue) ?? true }.map(\.kvmEntry)
    }

    /// Sets the boot MSRs KVM lists (`supported`); returns those it refused (each is then tried
    /// alone, so one refusal does not lose the others).
    @discardableResult
    public static func set(on vcpu: VCPU, supported: Set<UInt32>?) -> [UInt32] {
        let entries = entries(supported: supported)
        if (try? vcpu.setMSRs(entries)) != nil { return [] }
        return entries.compactMap { entry in (try? vcpu.setMSRs([entry])) == nil ? entry.index : nil }
    }
}
#endif
