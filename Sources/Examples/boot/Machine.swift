// The running machine: the VM, its console and devices, and how it ends. Every vCPU thread reports
// the outcome that ends the machine (the first one wins) and every other vCPU is stopped.

import DeviceBus
import EmulatedCPL0Fallbacks
import Glibc
import KVM
import X86Setup

final class Machine: @unchecked Sendable {
    // @unchecked: the mutable state is guarded by `lock`; the rest is immutable or Sendable.

    /// How a run ended.
    enum Outcome {
        case powerOff(String)
        case reset(String)
        /// A device asked the VMM to exit with this status (isa-debug-exit).
        case exit(status: Int32, String)
        case guestFailure(summary: String, details: String)
        case timeout(seconds: Double)
        case hostError(String)
    }

    let vm: VirtualMachine
    let console: Console
    /// Every device the vCPUs reach through port I/O or MMIO exits (Devices.swift).
    let bus: MachineBus
    let options: Options
    let plan: BootPlan
    let cpuid: CPUIDPolicy
    let supportedCPUID: CPUIDEntries
    let supportedMSRs: Set<UInt32>
    /// `--profile-guest`: samples RIPs while the machine runs.
    let profiler: GuestProfiler?
    /// The emulator probe found that user-mode `syscall` arrives at CPL3: every vCPU runs a UserModeFixup.
    let userModeFixup: Bool

    private let lock = ConditionLock()
    private(set) var outcome: Outcome?
    private var stoppers: [VCPUStopper] = []
    private var configured = 0
    private var released = false
    /// Per-vCPU lines describing where each stopped vCPU was (for timeouts).
    private(set) var stopLocations: [String] = []
    private(set) var statistics = ExitStatistics()

    init(
        vm: VirtualMachine, console: Console, bus: MachineBus, options: Options, plan: BootPlan, cpuid: CPUIDPolicy,
        supportedCPUID: CPUIDEntries, supportedMSRs: Set<UInt32>, profiler: GuestProfiler? = nil, userModeFixup: Bool = false
    ) {
        self.profiler = profiler
        self.userModeFixup = userModeFixup
        self.vm = vm
        self.console = console
        self.bus = bus
        self.options = options
        self.plan = plan
        self.cpuid = cpuid
        self.supportedCPUID = supportedCPUID
        self.supportedMSRs = supportedMSRs
    }

    /// Ends the run with `outcome` (unless one was already reported) and stops every vCPU.
    func finish(_ outcome: Outcome) {
        lock.withLock {
            if self.outcome == nil { self.outcome = outcome }
            for stopper in stoppers { stopper.stop() }
            lock.broadcast()
        }
    }

    /// The outcome so far (nil while running), read under the lock.
    var currentOutcome: Outcome? { lock.withLock { outcome } }

    /// Called by each vCPU thread once its vCPU is configured; returns when all are (so no vCPU runs
    /// before every other one exists and has its CPUID), or false if the run already ended.
    func vcpuReady(_ stopper: VCPUStopper?) -> Bool {
        lock.withLock {
            if let stopper { stoppers.append(stopper) }
            configured += 1
            lock.broadcast()
            while !released && outcome == nil { lock.wait(until: nil) }
            if outcome != nil { stopper?.stop() }
            return outcome == nil
        }
    }

    func record(stopLocation: String) { lock.withLock { stopLocations.append(stopLocation) } }
    func merge(_ counts: ExitStatistics) { lock.withLock { statistics.add(counts) } }

    /// Runs `options.cpus` vCPU threads and waits for the outcome (or the timeout).
    func run() -> Outcome {
        var threads: [VCPUThread<Void, Never>] = []
        for index in 0..<options.cpus {
            do {
                threads.append(try vm.spawnVCPU(id: UInt(index), stackSize: 1 << 20) { [self] vcpu in
                    var vcpuLoop = VCPULoop(machine: self, index: index)
                    vcpuLoop.run(vcpu)
                })
            } catch {
                finish(.hostError("vCPU \(index) setup: \(error)"))
                break
            }
        }
        let deadline = options.timeoutSeconds.map { ConditionLock.monotonicNow() + $0 }
        lock.withLock {
            while configured < threads.count && outcome == nil { lock.wait(until: nil) }
            released = true
            lock.broadcast()
        }
        let sampler = profiler.flatMap { profiler in
            try? HostThread(name: "profiler") { [self] in
                profiler.runSampler(stoppers: { lock.withLock { stoppers } }, running: { currentOutcome == nil })
            }
        }
        lock.withLock {
            while outcome == nil {
                if let deadline, ConditionLock.monotonicNow() >= deadline {
                    outcome = .timeout(seconds: options.timeoutSeconds ?? 0)
                    for stopper in stoppers { stopper.stop() }
                    break
                }
                lock.wait(until: deadline)
            }
        }
        for thread in threads { thread.join() }
        sampler?.join()
        console.flush()
        return lock.withLock { outcome! }
    }
}

/// Exit counts, summed over vCPUs (printed with --verbose).
struct ExitStatistics {
    var portIO = 0
    var mmio = 0
    var unclaimed = 0
    var other = 0
    var fallbacks = VCPUFallbacks.Statistics()

    mutating func add(_ other: ExitStatistics) {
        portIO += other.portIO
        mmio += other.mmio
        unclaimed += other.unclaimed
        self.other += other.other
        fallbacks.add(other.fallbacks)
    }

    var summary: String {
        let fixup = fallbacks.userModeFixup
        return "exits: \(portIO) port I/O and \(mmio) MMIO (\(unclaimed) of them to no device), \(other) other; "
            + "\(fallbacks.int3Delivered) kernel int3 delivered and \(fallbacks.instructionsCompleted) fwait/ldmxcsr/stmxcsr completed by the VMM"
            + (fixup.syscallsCompleted + fixup.pageFaultsPassedOn > 0
                ? "; \(fixup.syscallsCompleted) user syscalls completed and \(fixup.pageFaultsPassedOn) page faults passed on by the user-mode fix-up" : "")
    }
}
