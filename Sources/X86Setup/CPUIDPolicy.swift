#if arch(x86_64)
import KVM
import KVMBindings

/// What CPUID tells each vCPU: KVM_GET_SUPPORTED_CPUID, with that vCPU's APIC id and a flat
/// topology (one package, one thread per core, `cpuCount` cores), the hypervisor bit, and then
/// every bit in ``clears`` cleared.
///
/// Per vCPU `cpu` of `cpuCount`:
/// - leaf 1: EBX[31:24] = APIC id (= `cpu`), EBX[23:16] = logical processors, ECX[31] = running
///   under a hypervisor, EDX[28] (HTT) set when there is more than one;
/// - leaf 4 (Intel's cache parameters): EAX[31:26] = cores per package - 1, EAX[25:14] = the
///   threads sharing the cache - 1 (1 for L1/L2, all cores for L3 and beyond);
/// - leaves 0xB and 0x1F (extended topology), where the supported list has them: rebuilt as
///   subleaf 0 the SMT level with one thread, subleaf 1 the core level with `cpuCount` cores,
///   subleaf 2 the end of the list (type 0); EDX = x2APIC id. KVM lists only subleaf 0 (zeroed), and
///   a vCPU asking for a subleaf the table lacks reads zeros, which ends Linux's walk before the
///   core level: it then takes the whole APIC id as the package id, and puts each vCPU in a package
///   of its own;
/// - AMD's 0x80000008 ECX (cores - 1 and their APIC id bits), 0x8000001D (AMD's cache parameters:
///   EAX[25:14] as in leaf 4) and 0x8000001E (extended APIC id, core id, node 0).
/// The hypervisor leaves KVM lists (0x40000000: "KVMKVMKVM", 0x40000001: KVM's paravirtual
/// features) are passed through.
public struct CPUIDPolicy: Sendable {
    /// A CPUID output register.
    public enum Register: String, CaseIterable, Sendable { case eax, ebx, ecx, edx }

    /// One bit to clear: `leaf[.subleaf].register.bit`; no subleaf means every subleaf.
    public struct Clear: Hashable, Sendable, CustomStringConvertible {
        public var leaf: UInt32
        public var subleaf: UInt32?
        public var register: Register
        public var bit: Int

        /// Parses "1.ecx.26", "0x7.0.ebx.5", "7.ebx.5" (nil for anything else, or a bit above 31).
        public init?(_ text: String) {
            let parts = text.lowercased().split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 || parts.count == 4, let register = Register(rawValue: parts[parts.count - 2]),
                  let bit = Int(parts[parts.count - 1]), (0 ..< 32).contains(bit), let leaf = Self.number(parts[0])
            else { return nil }
            var subleaf: UInt32?
            if parts.count == 4 {
                guard let value = Self.number(parts[1]) else { return nil }
                subleaf = value
            }
            self.init(leaf: leaf, subleaf: subleaf, register: register, bit: bit)
        }

        public init(leaf: UInt32, subleaf: UInt32? = nil, register: Register, bit: Int) {
            precondition((0 ..< 32).contains(bit), "CPUID register bit \(bit)")
            self.leaf = leaf
            self.subleaf = subleaf
            self.register = register
            self.bit = bit
        }

        static func number(_ text: String) -> UInt32? {
            text.hasPrefix("0x") ? UInt32(text.dropFirst(2), radix: 16) : UInt32(text)
        }

        public var description: String {
            "0x\(String(leaf, radix: 16))\(subleaf.map { ".\($0)" } ?? "").\(register.rawValue).\(bit)"
        }
    }

    // Feature bits VMMs commonly hide (e.g. where an emulator cannot run the instruction).
    public static let xsave = Clear(leaf: 1, register: .ecx, bit: 26)
    public static let osxsave = Clear(leaf: 1, register: .ecx, bit: 27)
    public static let cx16 = Clear(leaf: 1, register: .ecx, bit: 13)
    public static let popcnt = Clear(leaf: 1, register: .ecx, bit: 23)
    public static let rdrand = Clear(leaf: 1, register: .ecx, bit: 30)
    public static let pclmulqdq = Clear(leaf: 1, register: .ecx, bit: 1)
    public static let ssse3 = Clear(leaf: 1, register: .ecx, bit: 9)
    public static let sse42 = Clear(leaf: 1, register: .ecx, bit: 20)
    public static let movbe = Clear(leaf: 1, register: .ecx, bit: 22)
    public static let aes = Clear(leaf: 1, register: .ecx, bit: 25)
    public static let x2apic = Clear(leaf: 1, register: .ecx, bit: 21)
    public static let fsgsbase = Clear(leaf: 7, subleaf: 0, register: .ebx, bit: 0)
    public static let bmi1 = Clear(leaf: 7, subleaf: 0, register: .ebx, bit: 3)
    public static let bmi2 = Clear(leaf: 7, subleaf: 0, register: .ebx, bit: 8)
    public static let invpcid = Clear(leaf: 7, subleaf: 0, register: .ebx, bit: 10)
    public static let adx = Clear(leaf: 7, subleaf: 0, register: .ebx, bit: 19)
    public static let smap = Clear(leaf: 7, subleaf: 0, register: .ebx, bit: 20)
    public static let shaNI = Clear(leaf: 7, subleaf: 0, register: .ebx, bit: 29)
    public static let rdpid = Clear(leaf: 7, subleaf: 0, register: .ecx, bit: 22)
    public static let rdtscp = Clear(leaf: 0x8000_0001, register: .edx, bit: 27)
    public static let page1GB = Clear(leaf: 0x8000_0001, register: .edx, bit: 26)

    // KVM's paravirtual features (leaf 0x40000001 EAX) that Linux uses through a hypercall (`vmcall`/`vmmcall`
    // at CPL0), all only with more than one vCPU.
    /// KVM_FEATURE_PV_UNHALT: paravirtual spinlocks, whose waiters halt and are woken by KVM_HC_KICK_CPU.
    public static let kvmPVUnhalt = Clear(leaf: 0x4000_0001, register: .eax, bit: 7)
    /// KVM_FEATURE_PV_SEND_IPI: IPIs through KVM_HC_SEND_IPI instead of the local APIC.
    public static let kvmPVSendIPI = Clear(leaf: 0x4000_0001, register: .eax, bit: 11)
    /// KVM_FEATURE_PV_SCHED_YIELD: KVM_HC_SCHED_YIELD to a preempted vCPU when sending it an IPI.
    public static let kvmPVSchedYield = Clear(leaf: 0x4000_0001, register: .eax, bit: 13)
    /// KVM_FEATURE_HC_MAP_GPA_RANGE: KVM_HC_MAP_GPA_RANGE (encrypted guests).
    public static let kvmMapGPARange = Clear(leaf: 0x4000_0001, register: .eax, bit: 16)
    /// Every KVM paravirtual feature Linux uses through a hypercall.
    public static let kvmHypercallFeatures = [kvmPVUnhalt, kvmPVSendIPI, kvmPVSchedYield, kvmMapGPARange]

    /// The bits to clear, after the topology is applied.
    public var clears: [Clear]

    public init(clears: [Clear] = []) {
        self.clears = clears
    }

    /// The leaves for vCPU `cpu` (its APIC id) of `cpuCount`.
    public func entries(for cpu: Int, cpuCount: Int, from supported: CPUIDEntries) -> CPUIDEntries {
        precondition(cpuCount >= 1 && (0 ..< cpuCount).contains(cpu), "vCPU \(cpu) of \(cpuCount)")
        let apicID = UInt32(cpu)
        let coreBits = UInt32(cpuCount <= 1 ? 0 : (Int.bitWidth - (cpuCount - 1).leadingZeroBitCount))
        var entries = CPUIDEntries(supported.filter { $0.function != 0xB && $0.function != 0x1F })
        for leaf: UInt32 in [0xB, 0x1F] where supported.contains(where: { $0.function == leaf }) {
            entries.entries += Self.extendedTopology(leaf: leaf, apicID: apicID, cpuCount: cpuCount, coreBits: coreBits)
        }
        for index in entries.indices {
            var entry = entries[index]
            switch entry.function {
            case 1:
                entry.ebx = (entry.ebx & 0x0000_FFFF) | UInt32(min(cpuCount, 255)) << 16 | (apicID & 0xFF) << 24
                entry.ecx |= 1 << 31  // running under a hypervisor
                if cpuCount > 1 { entry.edx |= 1 << 28 } else { entry.edx &= ~(1 << 28) }  // HTT
            case 4 where entry.eax & 0x1F != 0:  // a cache (type 0 ends the list)
                entry.eax = Self.withCacheSharing(entry.eax & 0x03FF_FFFF, cpuCount: cpuCount) | (min(UInt32(cpuCount - 1), 63) << 26)
            case 0x8000_0008:  // AMD: cores per package - 1, and the APIC id bits they use
                entry.ecx = (entry.ecx & ~0xF0FF) | coreBits << 12 | UInt32(min(cpuCount - 1, 255))
            case 0x8000_001D where entry.eax & 0x1F != 0:  // AMD's leaf 4: only the sharing field
                entry.eax = Self.withCacheSharing(entry.eax, cpuCount: cpuCount)
            case 0x8000_001E:
                entry.eax = apicID
                entry.ebx = UInt32(cpu & 0xFF)  // core id, one thread per core
                entry.ecx = 0
            default:
                break
            }
            entries[index] = entry
        }
        return cleared(entries)
    }

    /// A cache leaf's EAX (leaf 4, AMD's 0x8000001D) with EAX[25:14], the threads sharing the cache - 1,
    /// set for one thread per core: none for L1 and L2, all `cpuCount` for L3 and beyond.
    static func withCacheSharing(_ eax: UInt32, cpuCount: Int) -> UInt32 {
        let level = (eax >> 5) & 7
        let sharing = level >= 3 ? UInt32(cpuCount - 1) : 0
        return (eax & ~(0xFFF << 14)) | (min(sharing, 0xFFF) << 14)
    }

    /// Leaf 0xB or 0x1F for one vCPU: the SMT level (one thread per core), the core level
    /// (`cpuCount` cores, the APIC id's low `coreBits` bits) and the terminating subleaf, each with
    /// EDX = the x2APIC id, and flagged as indexed so KVM matches the subleaf.
    static func extendedTopology(leaf: UInt32, apicID: UInt32, cpuCount: Int, coreBits: UInt32) -> [KVMCPUIDEntry2] {
        let levels: [(eax: UInt32, ebx: UInt32, ecx: UInt32)] = [
            (0, 1, 1 << 8 | 0),  // SMT: next level's shift 0, one logical processor, type 1
            (coreBits, UInt32(cpuCount), 2 << 8 | 1),  // core: shift to the package id, type 2
            (0, 0, 2),  // type 0: the end
        ]
        return levels.enumerated().map { index, level in
            var entry = KVMCPUIDEntry2()
            entry.function = leaf
            entry.index = UInt32(index)
            entry.flags = KVMCPUIDFlags.signifcantIndex.rawValue
            entry.eax = level.eax
            entry.ebx = level.ebx
            entry.ecx = level.ecx
            entry.edx = apicID
            return entry
        }
    }

    /// `entries` with every bit in ``clears`` cleared.
    public func cleared(_ entries: CPUIDEntries) -> CPUIDEntries {
        var entries = entries
        for clear in clears {
            for index in entries.indices where entries[index].function == clear.leaf {
                if let subleaf = clear.subleaf, entries[index].index != subleaf { continue }
                let mask = ~(UInt32(1) << UInt32(clear.bit))
                switch clear.register {
                case .eax: entries[index].eax &= mask
                case .ebx: entries[index].ebx &= mask
                case .ecx: entries[index].ecx &= mask
                case .edx: entries[index].edx &= mask
                }
            }
        }
        return entries
    }
}
#endif
