// One vCPU: its CPUID, MSRs, FPU and LAPIC (X86Setup), the entry state for vCPU 0 (application
// processors wait for Linux's INIT/SIPI), then KVM_RUN until the machine ends. Port I/O and MMIO exits
// go to the bus; where the emulator probe found this host emulating kernel code, exits first pass the
// user-mode fix-up and KVM's emulation failures the kernel instruction fallback (EmulatedCPL0Fallbacks).

import DeviceBus
import EmulatedCPL0Fallbacks
import Glibc
import KVM
import KVMBindings
import Synchronization
import X86Setup

/// How the machine ended, as the first vCPU to see it reported it.
enum Ending: Sendable {
    case reset(String), powerOff(String), guestFailure(String), timeout
}

/// What the vCPU threads share.
final class Machine: Sendable {
    let vm: VirtualMachine
    let bus: MachineBus
    let console: GuestConsole
    let cpuid: CPUIDPolicy
    let supportedCPUID: CPUIDEntries
    let supportedMSRs: Set<UInt32>
    let cpuCount: Int
    /// The emulator probe's verdicts: run the user-mode fix-up, the kernel instruction fallback.
    let userModeFixup: Bool
    let emulatingHost: Bool
    let entry: X86Setup.EntryState
    let entryRegisters: KVMRegs
    private let state = Mutex<(ending: Ending?, stoppers: [VCPUStopper])>((nil, []))
    private let configured = Atomic<Int>(0)

    init(vm: VirtualMachine, bus: MachineBus, console: GuestConsole, cpuid: CPUIDPolicy, supportedCPUID: CPUIDEntries,
         supportedMSRs: Set<UInt32>, cpuCount: Int, userModeFixup: Bool, emulatingHost: Bool,
         entry: X86Setup.EntryState, entryRegisters: KVMRegs) {
        self.vm = vm; self.bus = bus; self.console = console; self.cpuid = cpuid; self.supportedCPUID = supportedCPUID
        self.supportedMSRs = supportedMSRs; self.cpuCount = cpuCount; self.userModeFixup = userModeFixup
        self.emulatingHost = emulatingHost; self.entry = entry; self.entryRegisters = entryRegisters
    }

    var ending: Ending? { state.withLock { $0.ending } }

    /// Records how the machine ended (the first report wins) and stops every vCPU.
    func finish(_ ending: Ending) {
        state.withLock { state in
            if state.ending == nil { state.ending = ending }
            for stopper in state.stoppers { stopper.stop() }
        }
    }

    /// Adds a vCPU to those `finish` stops (stopped at once if the machine already ended).
    func register(_ stopper: VCPUStopper) {
        state.withLock { state in
            state.stoppers.append(stopper)
            if state.ending != nil { stopper.stop() }
        }
    }

    /// The body of vCPU `index`'s thread.
    func runVCPU(_ vcpu: VCPU, index: Int) {
        do {
            try vcpu.setCPUID(cpuid.entries(for: index, cpuCount: cpuCount, from: supportedCPUID))
            _ = BootMSRs.set(on: vcpu, supported: supportedMSRs)
            try vcpu.setFPU(FPUDefaults.state)
            try vcpu.setLAPIC(LocalAPICSetup.configuringLINTs(try vcpu.lapic()))
            if index == 0 {
                try vcpu.setSpecialRegisters(entry.applied(to: try vcpu.specialRegisters()))
                try vcpu.setRegisters(entryRegisters)
            }
        } catch {
            configured.add(1, ordering: .sequentiallyConsistent)
            return finish(.guestFailure("vCPU \(index) setup: \(error)"))
        }
        configured.add(1, ordering: .sequentiallyConsistent)
        // vCPU 0 starts only when every vCPU has its CPUID (Linux starts the others through their LAPICs).
        while index == 0 && configured.load(ordering: .sequentiallyConsistent) < cpuCount && ending == nil { usleep(1000) }
        let fixup = userModeFixup ? UserModeFixup(vcpu: vcpu, memory: vm.memory) : nil
        while ending == nil {
            let exit: VCPUExit
            do { exit = try vcpu.run() } catch { return finish(.guestFailure("vCPU \(index): KVM_RUN failed: \(error)")) }
            if let fixup {
                switch Result(catching: { () throws(KVMRuntimeError) in try fixup.handle(exit) }) {
                case .success(.resumed): continue
                case .success(.notHandled): break
                case .success(.hostDefect(let defect)): return finish(.guestFailure("vCPU \(index): \(defect)"))
                case .failure(let error): return finish(.guestFailure("vCPU \(index): user-mode fix-up: \(error)"))
                }
            }
            switch exit {
            case .io(let io):
                do {
                    if let ending = Self.ending(for: try bus.handle(io, on: vcpu)) { return finish(ending) }
                } catch {
                    return finish(.guestFailure("vCPU \(index): port I/O at \(io.port): \(error)"))
                }
            case .mmio(let access):
                if let ending = Self.ending(for: bus.handle(access, on: vcpu)) { return finish(ending) }
            case .interrupted, .stopped:
                continue
            case .internalError(let error):
                if emulatingHost {
                    switch KernelInstructionFallback.complete(on: vcpu, memory: vm.memory, instructionBytes: error.instructionBytes) {
                    case .delivered, .completed: continue
                    case .undeliverable(let reason): return finish(.guestFailure("vCPU \(index): kernel instruction fallback: \(reason)"))
                    case .notHandled: break
                    }
                }
                return finish(.guestFailure("vCPU \(index): KVM \(error) (the instruction at RIP could not be run or emulated)"))
            case .shutdown:
                // After the exit marker: Linux's last way to reset (should the i8042 not do). Otherwise an
                // exception the guest could not handle (a panic that got here is still reported as one).
                if case .exited = console.phase { return finish(.reset("triple fault")) }
                return finish(.guestFailure("vCPU \(index): triple fault (KVM_EXIT_SHUTDOWN)"))
            case .systemEvent(let event):
                switch event.type {
                case .shutdown: return finish(.powerOff("KVM system event"))
                case .reset: return finish(.reset("KVM system event"))
                default: return finish(.guestFailure("vCPU \(index): KVM system event \(event.type)"))
                }
            case .halt:
                return finish(.guestFailure("vCPU \(index): halted with interrupts it can never receive"))
            default:
                return finish(.guestFailure("vCPU \(index): unexpected exit \(exit)"))
            }
        }
    }

    /// The machine's end a device asked for, if any (an access no device took reads all-ones, writes nothing).
    static func ending(for outcome: MachineBus.Outcome) -> Ending? {
        switch outcome {
        case .handled, .unclaimed: nil
        case .request(.reset): .reset("the guest reset the machine")
        case .request(.powerOff): .powerOff("the guest powered off")
        case .request(.exit(let status)): .guestFailure("the guest wrote \(status) to the debug-exit port")
        }
    }
}
