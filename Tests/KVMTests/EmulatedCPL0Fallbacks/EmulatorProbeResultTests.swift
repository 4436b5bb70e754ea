import EmulatedCPL0Fallbacks
import KVM
import KVMBindings
import Testing
import X86Setup

/// The probe's result as a VMM uses it, without /dev/kvm.
@Suite struct EmulatorProbeResultTests {
    static let result = EmulatorProbe.Result(failed: ["xrstor", "cmpxchg16b", "popcnt"], userSyscall: .arrivesAtCPL3(errorCode: 0x15))

    @Test func kernelParametersMergeClearcpuid() {
        #expect(Self.result.kernelParameters == ["noxsave", "clearcpuid=cx16,popcnt"])
        #expect(Self.result.defaultClears == [CPUIDPolicy.cx16, CPUIDPolicy.xsave, CPUIDPolicy.osxsave, CPUIDPolicy.popcnt])
        #expect(Self.result.needsUserModeFixup)
    }

    /// Linux honours only the last `clearcpuid=`: the probe's flags join the command line's own.
    @Test func commandLineJoinsAnExistingClearcpuid() {
        #expect(Self.result.commandLine(adding: "console=ttyS0 clearcpuid=erms,fsrm quiet")
            == "console=ttyS0 clearcpuid=erms,fsrm,cx16,popcnt quiet noxsave")
        #expect(Self.result.commandLine(adding: "console=ttyS0") == "console=ttyS0 noxsave clearcpuid=cx16,popcnt")
        #expect(Self.result.commandLine(adding: "noxsave clearcpuid=popcnt") == "noxsave clearcpuid=popcnt,cx16")
    }

    /// Native user cpuid with no XSAVE in the guest kernel: glibc is told not to use the vector state.
    @Test func glibcTunablesWhereUserCPUIDIsNative() {
        var result = Self.result
        result.userCPUIDIsNative = true
        #expect(result.kernelParameters == ["noxsave", EmulatorProbe.Result.glibcVectorTunables, "clearcpuid=cx16,popcnt"])
        result.failed = ["popcnt"]  // the kernel can use XSAVE: nothing to tell glibc
        #expect(result.kernelParameters == ["clearcpuid=popcnt"])
    }

    /// A hypercall that never completes hides KVM's hypercall-based paravirtual features (with a second
    /// vCPU, Linux's PV IPIs otherwise loop forever in `vmcall`) and their spinlocks.
    @Test func vmcallHidesKVMsHypercallFeatures() {
        let result = EmulatorProbe.Result(failed: ["vmcall"], userSyscall: .arrivesAtCPL3(errorCode: 0x15))
        #expect(result.defaultClears == [CPUIDPolicy.kvmPVUnhalt, CPUIDPolicy.kvmPVSendIPI, CPUIDPolicy.kvmPVSchedYield, CPUIDPolicy.kvmMapGPARange])
        #expect(result.kernelParameters == ["nopvspin"])
        var leaf = KVMCPUIDEntry2()
        leaf.function = 0x4000_0001
        leaf.eax = 0x0100_7EFB  // what this PVM host's KVM offers
        let cleared = CPUIDPolicy(clears: result.defaultClears).cleared(CPUIDEntries([leaf]))
        #expect(cleared[0].eax == 0x0100_7EFB & ~UInt32(1 << 7 | 1 << 11 | 1 << 13), "PV_UNHALT, PV_SEND_IPI, PV_SCHED_YIELD hidden, kvm-clock kept")
    }

    @Test func nothingOnHardwareVirtualization() {
        let result = EmulatorProbe.Result(failed: [], userSyscall: .arrivesInKernelMode)
        #expect(!result.needsUserModeFixup)
        #expect(result.kernelParameters.isEmpty && result.defaultClears.isEmpty)
        #expect(result.commandLine(adding: "console=ttyS0") == "console=ttyS0")
    }
}
