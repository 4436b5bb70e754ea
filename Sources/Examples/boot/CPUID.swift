// What CPUID tells the guest: KVM_GET_SUPPORTED_CPUID, with each vCPU's APIC id (leaf 1 EBX[31:24],
// the x2APIC id in leaves 0xB/0x1F EDX, AMD's 0x8000001E EAX), a flat topology (one package, one
// thread per core, `--cpus` cores: leaves 1, 0xB/0x1F, 0x80000008), the hypervisor bit, and then
// every `--cpuid-clear leaf[.subleaf].reg.bit` and every default the host needs (e.g. XSAVE hidden
// where KVM's emulator cannot run xrstor).

import EmulatedCPL0Fallbacks
import KVM
import KVMBindings

struct CPUIDPolicy {
    enum Register: String, CaseIterable { case eax, ebx, ecx, edx }

    /// One bit to clear: `leaf[.subleaf].register.bit`; no subleaf means every subleaf.
    struct Clear: Equatable, CustomStringConvertible {
        var leaf: UInt32
        var subleaf: UInt32?
        var register: Register
        var bit: Int

        /// Parses "1.ecx.26", "0x7.0.ebx.5", "7.ebx.5".
        init?(_ text: String) {
            let parts = text.lowercased().split(separator: ".").map(String.init)
            guard parts.count == 3 || parts.count == 4, let register = Register(rawValue: parts[parts.count - 2]),
                let bit = Int(parts[parts.count - 1]), (0..<32).contains(bit), let leaf = Self.number(parts[0])
            else { return nil }
            var subleaf: UInt32?
            if parts.count == 4 {
                guard let value = Self.number(parts[1]) else { return nil }
                subleaf = value
            }
            self.init(leaf: leaf, subleaf: subleaf, register: register, bit: bit)
        }

        init(leaf: UInt32, subleaf: UInt32? = nil, register: Register, bit: Int) {
            self.leaf = leaf
            self.subleaf = subleaf
            self.register = register
            self.bit = bit
        }

        /// The bit the emulator probe names.
        init(_ bit: CPUIDBit) {
            self.init(leaf: bit.leaf, subleaf: bit.subleaf, register: Register(rawValue: bit.register.rawValue)!, bit: bit.bit)
        }

        static func number(_ text: String) -> UInt32? {
            text.hasPrefix("0x") ? UInt32(text.dropFirst(2), radix: 16) : UInt32(text)
        }

        var description: String { "\(hex(leaf))\(subleaf.map { ".\($0)" } ?? "").\(register.rawValue).\(bit)" }
    }

    var clears: [Clear] = []

    /// The leaves for vCPU `cpu` of `cpuCount`.
    func entries(for cpu: Int, cpuCount: Int, from supported: CPUIDEntries) -> CPUIDEntries {
        var entries = supported
        let apicID = UInt32(cpu)
        let coreBits = UInt32(cpuCount <= 1 ? 0 : (Int.bitWidth - (cpuCount - 1).leadingZeroBitCount))
        for index in entries.indices {
            var entry = entries[index]
            switch entry.function {
            case 1:
                entry.ebx = (entry.ebx & 0x0000_FFFF) | UInt32(min(cpuCount, 255)) << 16 | apicID << 24
                entry.ecx |= 1 << 31  // running under a hypervisor
                if cpuCount > 1 { entry.edx |= 1 << 28 } else { entry.edx &= ~(1 << 28) }  // HTT
            case 0xB, 0x1F:
                switch entry.index {
                case 0:  // SMT level: one thread per core
                    entry.eax = 0
                    entry.ebx = 1
                    entry.ecx = 1 << 8
                case 1:  // core level: cpuCount cores
                    entry.eax = coreBits
                    entry.ebx = UInt32(cpuCount)
                    entry.ecx = 2 << 8 | 1
                default:
                    entry.eax = 0
                    entry.ebx = 0
                    entry.ecx = entry.index
                }
                entry.edx = apicID
            case 0x8000_0008:  // AMD: cores per package - 1, and the APIC id bits they use
                entry.ecx = (entry.ecx & ~0xF0FF) | coreBits << 12 | UInt32(cpuCount - 1)
            case 0x8000_001E:
                entry.eax = apicID
                entry.ebx = UInt32(cpu & 0xFF)  // core id, one thread per core
                entry.ecx = 0
            default:
                break
            }
            entries[index] = entry
        }
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
