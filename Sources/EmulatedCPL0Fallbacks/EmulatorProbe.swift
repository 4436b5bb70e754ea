// Does this host's KVM run kernel-mode code natively, or through its instruction emulator (as with
// PVM, shadow paging without VMX/SVM), where some instructions Linux uses at CPL0 are missing? Rather
// than guess from the host, run each suspect instruction once at CPL0 in a throwaway 64-bit VM and
// see whether KVM reports an emulation failure. Hardware virtualization passes every probe (and the
// guest keeps every feature). For each probe that fails, the feature's CPUID bit is cleared and, since
// such a host may show CPL0 code the host CPU's own CPUID bits, Linux is also told on its command
// line (`noxsave`, `clearcpuid=…`).
//
// One more probe runs a user-mode `syscall` into a kernel in the upper half and sees where it arrives:
// at CPL0 as on any x86 CPU, or (on the hosts this product is for) still at CPL3, where fetching the
// supervisor entry page raises #PF. Then the VMM needs ``UserModeFixup``.

import Glibc
import KVM
import KVMBindings
import X86Setup

/// Finds out, by running instructions in a throwaway VM, what this host's KVM cannot run at CPL0 and
/// whether a user-mode `syscall` arrives in kernel mode. On hardware virtualization every probe passes
/// and the result asks for nothing.
public enum EmulatorProbe {
    /// One instruction Linux may use at CPL0 when CPUID offers it.
    public struct Probe: Sendable {
        public var name: String
        /// The instruction, followed by the probe's `out 0x80, al; hlt`.
        public var code: [UInt8]
        /// CPUID bits the probe vCPU claims, and CR4 bits it sets, so the instruction is legal.
        public var cpuid: [CPUIDPolicy.Clear]
        public var cr4: UInt64 = 0
        /// What hides the feature: CPUID bits and the kernel parameter.
        public var clears: [CPUIDPolicy.Clear]
        public var kernelParameter: String
    }

    /// Where a user-mode `syscall` arrived in the probe guest.
    public enum UserSyscall: Equatable, Sendable, CustomStringConvertible {
        /// At LSTAR in kernel mode, as the architecture says: nothing to fix.
        case arrivesInKernelMode
        /// At LSTAR still at CPL3: the fetch of the supervisor entry page raised #PF with `errorCode`
        /// through the guest's IDT. ``UserModeFixup`` repairs this.
        case arrivesAtCPL3(errorCode: UInt64)
        /// Something else happened (explained); no fix-up is chosen.
        case unexpected(String)
        /// The probe VM could not be set up (explained); no fix-up is chosen.
        case notProbed(String)

        public var description: String {
            switch self {
            case .arrivesInKernelMode: "a user-mode syscall arrives at CPL0"
            case .arrivesAtCPL3(let code): "a user-mode syscall arrives at LSTAR still at CPL3 (#PF, error \(hex(code)))"
            case .unexpected(let what): "user-mode syscall probe: \(what)"
            case .notProbed(let why): "user-mode syscall not probed: \(why)"
            }
        }
    }

    static let cr4OSFXSR = ControlRegister4.osFXSR.rawValue
    static let cr4OSXMMEXCPT = ControlRegister4.osXMMExceptions.rawValue
    static let cr4FSGSBase = ControlRegister4.fsgsBase.rawValue
    static let cr4OSXSAVE = ControlRegister4.osXSAVE.rawValue
    static let cr4SMAP = ControlRegister4.supervisorModeAccessPrevention.rawValue

    /// The CPL0 instruction probes, in the order they run.
    public static let probes: [Probe] = [
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
        // A hypercall (mov eax, KVM_HC_VAPIC_POLL_IRQ; vmcall), which Linux makes for KVM's paravirtual
        // IPIs, spinlock kicks and yields once it has a second vCPU. Where every CPL0 instruction is
        // emulated it never completes: the emulator rewrites it to the vendor's hypercall instruction and
        // "re-executes" it, i.e. emulates it again, forever (the watchdog ends the run). Hiding the
        // features makes Linux send IPIs through the local APIC and use plain spinlocks.
        Probe(name: "vmcall", code: [0xB8, 0x01, 0x00, 0x00, 0x00, 0x0F, 0x01, 0xC1], cpuid: [],
              clears: CPUIDPolicy.kvmHypercallFeatures, kernelParameter: "nopvspin"),
    ]

    static func simd(_ name: String, _ code: [UInt8], _ bit: CPUIDPolicy.Clear, _ flag: String) -> Probe {
        Probe(name: name, code: code, cpuid: [bit], clears: [bit], kernelParameter: "clearcpuid=" + flag)
    }

    /// What the probes found.
    public struct Result: Equatable, Sendable {
        /// The probes whose instruction KVM failed to run at CPL0 (by ``Probe/name``).
        public var failed: [String]
        /// Where a user-mode `syscall` arrives.
        public var userSyscall: UserSyscall
        /// Whether user-mode `cpuid` bypasses the vCPU's CPUID (`KVM_SET_CPUID2`) and reports the host's
        /// features: there user programs see AVX, AVX2, AVX-512 and OSXSAVE (and `xgetbv` the host's
        /// XCR0) even where the guest kernel, without XSAVE, does not save that state across context
        /// switches.
        public var userCPUIDIsNative: Bool

        public init(failed: [String], userSyscall: UserSyscall, userCPUIDIsNative: Bool = false) {
            self.failed = failed
            self.userSyscall = userSyscall
            self.userCPUIDIsNative = userCPUIDIsNative
        }

        /// Where user programs see vector-register features whose state the guest kernel cannot save
        /// (native user `cpuid`, and `xrstor` failing so the kernel runs without XSAVE), glibc is told
        /// not to use them: `GLIBC_TUNABLES` on the kernel command line reaches init's environment and
        /// so every process that inherits it. Programs that do not use glibc's dispatch are not covered.
        public static let glibcVectorTunables =
            "GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD,-FMA,-F16C,-XSAVE,-XSAVEC,-OSXSAVE"

        private var failedProbes: [Probe] { EmulatorProbe.probes.filter { failed.contains($0.name) } }

        /// Whether the VMM should run ``UserModeFixup`` on every vCPU (only where a user-mode
        /// `syscall` was seen arriving at CPL3; never on hardware virtualization).
        public var needsUserModeFixup: Bool {
            if case .arrivesAtCPL3 = userSyscall { return true }
            return false
        }

        /// The CPUID bits to clear, so that the guest does not use what the host cannot run.
        public var defaultClears: [CPUIDPolicy.Clear] { failedProbes.flatMap(\.clears) }

        /// `commandLine` with ``kernelParameters`` added: parameters it already has are not repeated, and the
        /// probe's `clearcpuid=` flags join the command line's own `clearcpuid=` (Linux honours only the
        /// last one, so a second one would undo the first).
        public func commandLine(adding commandLine: String) -> String {
            var words = commandLine.split(separator: " ").map(String.init)
            for parameter in kernelParameters where !words.contains(parameter) {
                guard parameter.hasPrefix("clearcpuid="), let index = words.lastIndex(where: { $0.hasPrefix("clearcpuid=") }) else {
                    words.append(parameter)
                    continue
                }
                var flags = words[index].dropFirst("clearcpuid=".count).split(separator: ",").map(String.init)
                for flag in parameter.dropFirst("clearcpuid=".count).split(separator: ",").map(String.init) where !flags.contains(flag) {
                    flags.append(flag)
                }
                words[index] = "clearcpuid=" + flags.joined(separator: ",")
            }
            return words.joined(separator: " ")
        }

        /// Kernel parameters to add, `clearcpuid=` ones merged into one.
        public var kernelParameters: [String] {
            var parameters = failedProbes.map(\.kernelParameter)
            if userCPUIDIsNative && failed.contains("xrstor") { parameters.append(Self.glibcVectorTunables) }
            let clearcpuid = parameters.filter { $0.hasPrefix("clearcpuid=") }.map { String($0.dropFirst("clearcpuid=".count)) }
            return parameters.filter { !$0.hasPrefix("clearcpuid=") } + (clearcpuid.isEmpty ? [] : ["clearcpuid=" + clearcpuid.joined(separator: ",")])
        }
    }

    static let codeAddress: UInt64 = 0x10000
    static let dataAddress: UInt64 = 0x11000
    /// How long one `run()` of a CPL0 probe may take (it takes microseconds where the instruction works);
    /// a probe fails when its vCPU is still at the same RIP after two such deadlines.
    static let runDeadline = 0.05
    static let debug = getenv("KVM_PROBE_DEBUG") != nil || getenv("BOOT_PROBE_DEBUG") != nil
    /// `out 0x80, al; hlt`: the marker exit that says the instruction before it ran.
    static let marker: [UInt8] = [0xE6, 0x80, 0xF4]

    /// Runs every probe in a throwaway VM; nil if the probe VM itself could not be set up.
    ///
    /// - Parameters:
    ///   - system: The open `/dev/kvm`; the probe creates its own VM on it.
    ///   - supported: `KVMSystem.supportedCPUID()`, the leaves the probe vCPU starts from.
    public static func run(system: KVMSystem, supported: CPUIDEntries) -> Result? {
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
        guard let vm = try? system.createVM(), (try? vm.mapMemory(slot: 0, at: 0, size: ProbeGuest.memorySize)) != nil,
            let guest = try? ProbeGuest(writingInto: vm.memory),
            let vcpu = try? vm.createVCPU(id: 0), (try? vcpu.setCPUID(entries)) != nil
        else { return nil }
        let failed = probes.filter { fails($0, on: vcpu, vm: vm, guest: guest) }.map(\.name)
        let (userSyscall, userCPUIDIsNative) = probeUserSyscall(system: system, supported: supported)
        return Result(failed: failed, userSyscall: userSyscall, userCPUIDIsNative: userCPUIDIsNative)
    }

    /// Whether the probe's instruction at CPL0 fails: only the marker exit counts as success. KVM's
    /// emulation failure is the usual failure; a triple fault means the instruction raised #UD (no
    /// IDT gates here), which a kernel that sees the feature in CPUID would take too; a vCPU that stays
    /// at one RIP for two ``runDeadline``s (stopped by a ``ProbeWatchdog``) never completes it. A probe that cannot
    /// even be set up (the CPU lacks a CR4 bit) says nothing and clears nothing.
    private static func fails(_ probe: Probe, on vcpu: VCPU, vm: VirtualMachine, guest: ProbeGuest) -> Bool {
        do {
            try vm.memory.write(bytes: probe.code + marker, at: GuestAddress(codeAddress))
            try vm.memory.write(bytes: [UInt8](repeating: 0, count: 1024), at: GuestAddress(dataAddress))
            var special = guest.specialRegisters(try vcpu.specialRegisters(), user: false)
            special.cr4 |= probe.cr4 | cr4OSFXSR | cr4OSXMMEXCPT  // SSE instructions are legal, as under Linux
            try vcpu.setSpecialRegisters(special)
            var registers = KVMRegs()
            registers.rip = codeAddress
            registers.rflags = 0x2
            registers.rsp = 0x8000
            registers.rdi = dataAddress
            registers.rax = probe.cr4 & cr4OSXSAVE != 0 ? 1 : 0  // xrstor: restore x87 from the init state
            try vcpu.setRegisters(registers)
            var stoppedAt: UInt64?
            for _ in 0..<8 {
                let watchdog = try ProbeWatchdog(stopper: vcpu.stopper, seconds: runDeadline)
                let exit = Swift.Result { () throws(KVMRuntimeError) in try vcpu.run() }
                watchdog.cancel()
                if debug { printError("probe \(probe.name): \(exit)") }
                switch try exit.get() {
                case .io(let io) where io.port == 0x80: return false
                case .interrupted: continue
                case .stopped:
                    // The deadline passed (or a late stop met the next entry). Still at the same RIP one
                    // deadline later: the instruction neither completes nor fails.
                    let rip = try vcpu.registers().rip
                    if rip == stoppedAt { return true }
                    stoppedAt = rip
                default: return true
                }
            }
        } catch {
            if debug { printError("probe \(probe.name) setup failed: \(error)") }
            return false
        }
        return true
    }

    // The user-mode syscall probe's layout (guest-physical; the kernel parts run at kernelBase + these).
    static let userCodeAddress: UInt64 = 0x12000
    static let userStackTop: UInt64 = 0x15000
    static let kernelEntryAddress: UInt64 = 0x13000
    static let pageFaultHandlerAddress: UInt64 = 0x13100
    static let kernelStackTop: UInt64 = 0x16000
    /// Linux's SYSCALL_MASK: TF, DF, IF, IOPL, AC, NT (and more); enough here that IF and TF are masked.
    static let syscallMask: UInt64 = 0x47700

    /// Runs `cpuid` (leaf 1) and `syscall` at CPL3 (kernel entry on a supervisor page in the upper half,
    /// the entry does `out 0x80, al`; the #PF handler does `out 0x81, al`) and reports where the syscall
    /// arrived, and whether `cpuid` reported OSXSAVE or AVX although the vCPU's CPUID hides them.
    static func probeUserSyscall(system: KVMSystem, supported: CPUIDEntries) -> (UserSyscall, Bool) {
        var userCPUIDIsNative = false
        let result = probeUserSyscall(system: system, supported: supported, userCPUIDIsNative: &userCPUIDIsNative)
        return (result, userCPUIDIsNative)
    }

    private static func probeUserSyscall(system: KVMSystem, supported: CPUIDEntries, userCPUIDIsNative: inout Bool) -> UserSyscall {
        do {
            let vm = try system.createVM()
            try vm.mapMemory(slot: 0, at: 0, size: ProbeGuest.memorySize)
            let kernelStack = ProbeGuest.kernelBase + kernelStackTop
            var guest = try ProbeGuest(writingInto: vm.memory, kernelStack: kernelStack)
            let lstar = ProbeGuest.kernelBase + kernelEntryAddress
            let handler = ProbeGuest.kernelBase + pageFaultHandlerAddress
            try guest.setGate(14, handler: handler, in: vm.memory)
            // mov eax, 1; xor ecx, ecx; cpuid; mov r8, rcx; syscall; out 0x82, al; hlt
            let user: [UInt8] = [0xB8, 1, 0, 0, 0, 0x31, 0xC9, 0x0F, 0xA2, 0x49, 0x89, 0xC8, 0x0F, 0x05, 0xE6, 0x82, 0xF4]
            try vm.memory.write(bytes: user, at: GuestAddress(userCodeAddress))
            try vm.memory.write(bytes: marker, at: GuestAddress(kernelEntryAddress))  // out 0x80, al; hlt
            try vm.memory.write(bytes: [0xE6, 0x81, 0xF4], at: GuestAddress(pageFaultHandlerAddress))  // out 0x81, al; hlt
            let vcpu = try vm.createVCPU(id: 0)
            var entries = supported  // OSXSAVE and AVX hidden: does user-mode cpuid see them anyway?
            let hidden: UInt32 = 1 << 27 | 1 << 28
            for index in entries.indices where entries[index].function == 1 { entries[index].ecx &= ~hidden }
            try vcpu.setCPUID(entries)
            try vcpu.setSpecialRegisters(guest.specialRegisters(try vcpu.specialRegisters(), user: true))
            let star = UInt64((LongModeSetup.userDataSelector & ~3) - 8) << 48 | UInt64(LongModeSetup.kernelCodeSelector) << 32
            try vcpu.setMSRs([msr(.star, star), msr(.lstar, lstar), msr(.syscallFlagMask, syscallMask)])
            var registers = KVMRegs()
            registers.rip = userCodeAddress
            registers.rsp = userStackTop
            registers.rflags = 0x202
            try vcpu.setRegisters(registers)
            for _ in 0..<4 {
                let exit = try vcpu.run()
                if debug { printError("probe user syscall: \(exit)") }
                if case .io = exit { userCPUIDIsNative = try vcpu.registers().r8 & UInt64(hidden) != 0 }
                switch exit {
                case .interrupted: continue
                case .io(let io) where io.port == 0x80:
                    let cs = try vcpu.specialRegisters().cs.selector
                    return cs & 3 == 0 ? .arrivesInKernelMode : .unexpected("arrived at LSTAR with CS \(hex(cs))")
                case .io(let io) where io.port == 0x81:
                    let special = try vcpu.specialRegisters()
                    let memory = GuestVirtualMemory(vcpu: vcpu, memory: vm.memory, special: special)
                    guard let frame = memory.words(try vcpu.registers().rsp, count: 3) else {
                        return .unexpected("#PF taken, its frame unreadable")
                    }
                    if frame[1] == lstar && frame[2] & 3 == 3 { return .arrivesAtCPL3(errorCode: frame[0]) }
                    return .unexpected("#PF (error \(hex(frame[0]))) at RIP \(hex(frame[1])) CS \(hex(frame[2]))")
                default:
                    return .unexpected("exit \(exit)")
                }
            }
            return .unexpected("no exit but signals")
        } catch {
            return .notProbed("\(error)")
        }
    }

    private static func msr(_ register: ModelSpecificRegister, _ value: UInt64) -> KVMMSREntry {
        var entry = KVMMSREntry()
        entry.index = register.rawValue
        entry.data = value
        return entry
    }

    static func printError(_ message: String) {
        let line = Array(("kvm emulator probe: " + message + "\n").utf8)
        // SAFETY: `line` is a live array for the duration of the call; write(2) reads `line.count` bytes of it.
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
