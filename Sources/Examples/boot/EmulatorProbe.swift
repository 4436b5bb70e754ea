// Does this host's KVM run kernel-mode code natively, or through its instruction emulator (as with
// PVM, shadow paging without VMX/SVM), where some instructions Linux uses at CPL0 are missing? Rather
// than guess from the host, run each suspect instruction once at CPL0 in a throwaway 64-bit VM and
// see whether KVM reports an emulation failure. Hardware virtualization passes every probe (and the
// guest keeps every feature). For each probe that fails, the feature's CPUID bit is cleared and, since
// such a host may show CPL0 code the host CPU's own CPUID bits, Linux is also told on its command
// line (`noxsave`, `clearcpuid=…`).

import Glibc
import KVM
import KVMBindings

enum EmulatorProbe {
    /// One instruction Linux may use at CPL0 when CPUID offers it.
    struct Probe {
        var name: String
        /// The instruction, followed by the probe's `out 0x80, al; hlt`.
        var code: [UInt8]
        /// CPUID bits the probe vCPU claims, and CR4 bits it sets, so the instruction is legal.
        var cpuid: [CPUIDPolicy.Clear]
        var cr4: UInt64 = 0
        /// What hides the feature: CPUID bits and the kernel parameter.
        var clears: [CPUIDPolicy.Clear]
        var kernelParameter: String
    }

    static let cr4OSFXSR: UInt64 = 1 << 9
    static let cr4OSXMMEXCPT: UInt64 = 1 << 10
    static let cr4FSGSBase: UInt64 = 1 << 16
    static let cr4OSXSAVE: UInt64 = 1 << 18
    static let cr4SMAP: UInt64 = 1 << 21

    static let probes: [Probe] = [
        Probe(name: "cmpxchg16b", code: [0xF0, 0x48, 0x0F, 0xC7, 0x0F], cpuid: [CPUIDPolicy.cx16],
              clears: [CPUIDPolicy.cx16], kernelParameter: "clearcpuid=cx16"),
        Probe(name: "xrstor", code: [0x0F, 0xAE, 0x2F], cpuid: [CPUIDPolicy.xsave], cr4: cr4OSXSAVE,
              clears: [CPUIDPolicy.xsave, CPUIDPolicy.osxsave], kernelParameter: "noxsave"),
        Probe(name: "popcnt", code: [0xF3, 0x48, 0x0F, 0xB8, 0xC7], cpuid: [CPUIDPolicy.popcnt],
              clears: [CPUIDPolicy.popcnt], kernelParameter: "clearcpuid=popcnt"),
        Probe(name: "rdgsbase", code: [0xF3, 0x48, 0x0F, 0xAE, 0xC8], cpuid: [CPUIDPolicy.fsgsbase], cr4: cr4FSGSBase,
              clears: [CPUIDPolicy.fsgsbase], kernelParameter: "clearcpuid=fsgsbase"),
        Probe(name: "stac/clac", code: [0x0F, 0x01, 0xCB, 0x0F, 0x01, 0xCA], cpuid: [CPUIDPolicy.smap], cr4: cr4SMAP,
              clears: [CPUIDPolicy.smap], kernelParameter: "clearcpuid=smap"),
        Probe(name: "rdpid", code: [0xF3, 0x0F, 0xC7, 0xF8], cpuid: [CPUIDPolicy.rdpid],
              clears: [CPUIDPolicy.rdpid], kernelParameter: "clearcpuid=rdpid"),
        Probe(name: "rdtscp", code: [0x0F, 0x01, 0xF9], cpuid: [CPUIDPolicy.rdtscp],
              clears: [CPUIDPolicy.rdtscp], kernelParameter: "clearcpuid=rdtscp"),
        Probe(name: "rdrand", code: [0x48, 0x0F, 0xC7, 0xF0], cpuid: [CPUIDPolicy.rdrand],
              clears: [CPUIDPolicy.rdrand], kernelParameter: "clearcpuid=rdrand"),
        Probe(name: "invpcid", code: [0x66, 0x0F, 0x38, 0x82, 0x07], cpuid: [CPUIDPolicy.invpcid],
              clears: [CPUIDPolicy.invpcid], kernelParameter: "clearcpuid=invpcid"),
        // Instruction-set extensions Linux uses at CPL0 in kernel_fpu_begin() sections (crypto, CRCs)
        // or in plain code (movbe, BMI, ADX in curve25519), once CPUID offers them.
        simd("pshufb", [0x66, 0x0F, 0x38, 0x00, 0xC1], CPUIDPolicy.ssse3, "ssse3"),
        simd("crc32", [0xF2, 0x0F, 0x38, 0xF1, 0xC1], CPUIDPolicy.sse42, "sse4_2"),
        simd("pclmulqdq", [0x66, 0x0F, 0x3A, 0x44, 0xC1, 0x00], CPUIDPolicy.pclmulqdq, "pclmulqdq"),
        simd("aesenc", [0x66, 0x0F, 0x38, 0xDC, 0xC1], CPUIDPolicy.aes, "aes"),
        simd("sha256rnds2", [0x0F, 0x38, 0xCB, 0xC1], CPUIDPolicy.shaNI, "sha_ni"),
        simd("movbe", [0x0F, 0x38, 0xF0, 0x07], CPUIDPolicy.movbe, "movbe"),
        simd("andn", [0xC4, 0xE2, 0xF0, 0xF2, 0xC1], CPUIDPolicy.bmi1, "bmi1"),
        simd("mulx", [0xC4, 0xE2, 0xFB, 0xF6, 0xC1], CPUIDPolicy.bmi2, "bmi2"),
        simd("adcx", [0x66, 0x48, 0x0F, 0x38, 0xF6, 0xC1], CPUIDPolicy.adx, "adx"),
    ]

    private static func simd(_ name: String, _ code: [UInt8], _ bit: CPUIDPolicy.Clear, _ flag: String) -> Probe {
        Probe(name: name, code: code, cpuid: [bit], clears: [bit], kernelParameter: "clearcpuid=" + flag)
    }

    struct Result: Equatable {
        /// The probes whose instruction KVM failed to emulate.
        var failed: [String]

        private var failedProbes: [Probe] { EmulatorProbe.probes.filter { failed.contains($0.name) } }

        /// The CPUID bits to clear by default.
        var defaultClears: [CPUIDPolicy.Clear] { failedProbes.flatMap(\.clears) }

        /// Kernel parameters to add by default, `clearcpuid=` ones merged into one.
        var kernelParameters: [String] {
            let parameters = failedProbes.map(\.kernelParameter)
            let clearcpuid = parameters.filter { $0.hasPrefix("clearcpuid=") }.map { String($0.dropFirst("clearcpuid=".count)) }
            return parameters.filter { !$0.hasPrefix("clearcpuid=") } + (clearcpuid.isEmpty ? [] : ["clearcpuid=" + clearcpuid.joined(separator: ",")])
        }
    }

    static let codeAddress: UInt64 = 0x10000
    static let dataAddress: UInt64 = 0x11000
    static let debug = getenv("BOOT_PROBE_DEBUG") != nil
    /// `out 0x80, al; hlt`: the marker exit that says the instruction before it ran.
    static let marker: [UInt8] = [0xE6, 0x80, 0xF4]

    /// Runs every probe; nil if the probe VM itself could not be set up.
    static func run(system: KVMSystem, supported: CPUIDEntries) -> Result? {
        // The probe vCPU claims every probed feature, whatever KVM lists: a guest on such a host may see
        // the host's own CPUID bits, and CR4 bits such as OSXSAVE need the CPUID bit.
        var entries = supported
        for clear in probes.flatMap(\.cpuid) {
            if let index = entries.firstIndex(where: { $0.function == clear.leaf && $0.index == (clear.subleaf ?? 0) }) {
                let bit = UInt32(1) << UInt32(clear.bit)
                switch clear.register {
                case .eax: entries[index].eax |= bit
                case .ebx: entries[index].ebx |= bit
                case .ecx: entries[index].ecx |= bit
                case .edx: entries[index].edx |= bit
                }
            }
        }
        guard let vm = try? system.createVM(), (try? vm.mapMemory(slot: 0, at: 0, size: 0x20_0000)) != nil,
            (try? CPUSetup.writeTables(into: vm.memory, mode: .longMode64)) != nil,
            let vcpu = try? vm.createVCPU(id: 0), (try? vcpu.setCPUID(entries)) != nil
        else { return nil }
        return Result(failed: probes.filter { fails($0, on: vcpu, vm: vm) }.map(\.name))
    }

    /// Whether the probe's instruction at CPL0 fails: only the marker exit counts as success. KVM's
    /// emulation failure is the usual failure; a triple fault means the instruction raised #UD (no
    /// IDT here), which a kernel that sees the feature in CPUID would take too. A probe that cannot
    /// even be set up (the CPU lacks a CR4 bit) says nothing and clears nothing.
    private static func fails(_ probe: Probe, on vcpu: VCPU, vm: VirtualMachine) -> Bool {
        do {
            try vm.memory.write(bytes: probe.code + marker, at: GuestAddress(codeAddress))
            try vm.memory.write(bytes: [UInt8](repeating: 0, count: 1024), at: GuestAddress(dataAddress))
            var special = CPUSetup.specialRegisters(try vcpu.specialRegisters(), mode: .longMode64)
            special.cr4 |= probe.cr4 | cr4OSFXSR | cr4OSXMMEXCPT  // SSE instructions are legal, as under Linux
            try vcpu.setSpecialRegisters(special)
            var registers = CPUSetup.registers(entry: codeAddress, mode: .longMode64, argument: 0)
            registers.rdi = dataAddress
            registers.rax = probe.cr4 & cr4OSXSAVE != 0 ? 1 : 0  // xrstor: restore x87 from the init state
            try vcpu.setRegisters(registers)
            for _ in 0..<4 {
                let exit = try vcpu.run()
                if debug { FailureReport.printError("boot: probe \(probe.name): \(exit)") }
                switch exit {
                case .io(let io) where io.port == 0x80: return false
                case .interrupted: continue
                default: return true
                }
            }
        } catch {
            if debug { FailureReport.printError("boot: probe \(probe.name) setup failed: \(error)") }
            return false
        }
        return true
    }
}
