// One vCPU's thread (the runtime's `spawnVCPU` creates the vCPU on it: a VCPU belongs to the thread that runs it): give it its
// CPUID, MSRs, FPU and LAPIC state (and, for the boot CPU, the entry state), then run it and answer
// its exits until the machine ends. Secondary vCPUs stay in KVM's wait-for-SIPI state until Linux
// starts them through the in-kernel LAPIC (INIT, SIPI).

import DeviceBus
import EmulatedCPL0Fallbacks
import KVM
import KVMBindings
import X86Setup

struct VCPULoop {
    let machine: Machine
    let index: Int
    private var counts = ExitStatistics()

    init(machine: Machine, index: Int) {
        self.machine = machine
        self.index = index
    }

    mutating func run(_ vcpu: VCPU) {
        do {
            try configure(vcpu)
        } catch {
            machine.finish(.hostError("vCPU \(index) setup: \(error)"))
            _ = machine.vcpuReady(nil)
            return
        }
        guard machine.vcpuReady(vcpu.stopper) else { return }
        loop(vcpu)
        machine.merge(counts)
    }

    private func configure(_ vcpu: VCPU) throws {
        try vcpu.setCPUID(machine.cpuid.entries(for: index, cpuCount: machine.options.cpus, from: machine.supportedCPUID))
        let refused = BootMSRs.set(on: vcpu, supported: machine.supportedMSRs)
        if machine.options.verbose, !refused.isEmpty, index == 0 {
            Messages.printError("boot: KVM refused boot MSRs " + refused.map { hex($0) }.joined(separator: ", "))
        }
        try vcpu.setFPU(FPUDefaults.state)
        try vcpu.setLAPIC(LocalAPICSetup.configuringLINTs(try vcpu.lapic()))
        guard index == 0 else { return }  // application processors wait for INIT/SIPI
        try vcpu.setSpecialRegisters(machine.plan.entryState.applied(to: try vcpu.specialRegisters()))
        try vcpu.setRegisters(machine.plan.registers)
    }

    private mutating func loop(_ vcpu: VCPU) {
        // The user-mode fix-up only where the emulator probe saw a user-mode syscall arrive at CPL3 (never on VMX/SVM).
        let fallbacks = VCPUFallbacks(
            vcpu: vcpu, memory: machine.vm.memory, userModeFixup: machine.userModeFixup,
            kernelInstructions: machine.options.emulationFallback)
        defer { counts.fallbacks = fallbacks.statistics }
        while true {
            let exit: VCPUExit
            do {
                exit = try vcpu.run()
            } catch {
                fail(vcpu, "KVM_RUN failed: \(error)")
                return
            }
            switch fallbacks.handle(exit) {
            case .resumed: continue
            case .failed(let reason):
                fail(vcpu, reason)
                return
            case .notHandled: break
            }
            switch exit {
            case .io(let io):
                counts.portIO += 1
                let outcome: MachineBus.Outcome
                do {
                    outcome = try machine.bus.handle(io, on: vcpu)
                } catch {
                    fail(vcpu, "port I/O exit at \(hex(io.port)): \(error)")
                    return
                }
                if !answer(outcome, from: BootDevices.requester(port: io.port)) { return }
            case .mmio(let access):
                counts.mmio += 1
                if !answer(machine.bus.handle(access, on: vcpu), from: "MMIO at \(hex(access.address.rawValue))") { return }
            case .interrupted:
                continue
            case .stopped:
                if machine.currentOutcome == nil, let profiler = machine.profiler {
                    profiler.sample(vcpu, index: index)  // a sampling stop: the machine runs on
                    continue
                }
                if case .timeout = machine.currentOutcome {
                    machine.record(stopLocation: "vCPU \(index): " + stoppedAt(vcpu))
                }
                return
            case .internalError(let error):
                fail(vcpu, "KVM \(error) (the instruction at RIP could not be run or emulated)")
                return
            case .shutdown:
                let notices = machine.console.kernelNotices
                if notices.contains(.panic) {
                    fail(vcpu, "the kernel panicked (see the console), then reset the machine by a triple fault")
                } else if notices.last == .restarting {
                    machine.finish(.reset("the guest reset the machine (triple fault after \"reboot: Restarting system\")"))
                } else {
                    fail(vcpu, "triple fault (KVM_EXIT_SHUTDOWN): the guest took an exception it could not handle")
                }
                return
            case .systemEvent(let event):
                switch event.type {
                case .shutdown: machine.finish(.powerOff("the guest powered off (KVM system event)"))
                case .reset: machine.finish(.reset("the guest reset the machine (KVM system event)"))
                default: fail(vcpu, "KVM system event \(event.type) \(event.data)")
                }
                return
            case .failEntry(let reason, let cpu):
                fail(vcpu, "KVM_EXIT_FAIL_ENTRY: the CPU refused the guest state (hardware reason \(hex(reason)), cpu \(cpu))")
                return
            case .halt:
                fail(vcpu, "the guest halted with interrupts it can never receive (hlt exit)")
                return
            default:
                counts.other += 1
                fail(vcpu, "unexpected exit \(exit)")
                return
            }
        }
    }

    /// Counts an access no device took; ends the machine on a device's request (false: it ended).
    private mutating func answer(_ outcome: MachineBus.Outcome, from requester: @autoclosure () -> String) -> Bool {
        switch outcome {
        case .handled:
            return true
        case .unclaimed:
            counts.unclaimed += 1  // reads got all-ones, writes were dropped, as on a PC's empty bus
            return true
        case .request(.reset):
            if machine.console.kernelNotices.contains(.panic) {
                machine.finish(.guestFailure(summary: "the kernel panicked (see the console), then reset the machine", details: ""))
            } else {
                machine.finish(.reset("the guest reset the machine (\(requester()))"))
            }
            return false
        case .request(.powerOff):
            machine.finish(.powerOff("the guest powered off (\(requester()) S5)"))
            return false
        case .request(.exit(let status)):
            machine.finish(.exit(status: status, "the guest asked to exit with status \(status) (\(requester()))"))
            return false
        }
    }

    private func fail(_ vcpu: VCPU, _ summary: String) {
        let details = VCPUStateReport.describe(vcpu, memory: machine.vm.memory)
        machine.finish(.guestFailure(summary: "vCPU \(index): \(summary)", details: details))
    }

    private func stoppedAt(_ vcpu: VCPU) -> String {
        guard let registers = try? vcpu.registers(), let special = try? vcpu.specialRegisters() else { return "state unreadable" }
        let mp = (try? vcpu.mpState()).map { "\($0)" } ?? "?"
        return "RIP \(hex(registers.rip)) CPL \(special.cs.selector & 3) mp-state \(mp); "
            + VCPUStateReport.codeLine(rip: registers.rip, special: special, memory: machine.vm.memory, vcpu: vcpu)
    }
}
