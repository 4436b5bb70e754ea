// A deadline for one `run()` of a probe vCPU. Where kernel code is emulated, an instruction may neither
// complete nor fail: KVM's emulator takes `vmcall` to `em_hypercall`, which rewrites it into the
// vendor's hypercall instruction and lets the CPU "re-execute" it, and on a host that emulates every
// CPL0 instruction that is the emulator again, forever, without an exit to the VMM. The watchdog stops
// such a run (the stop is a signal, which KVM checks between emulated instructions), so the probe
// sees `.stopped` instead of hanging.

import KVM

/// Stops a vCPU (through its ``VCPUStopper``) unless cancelled within `seconds`.
final class ProbeWatchdog: Sendable {
    private let lock = ConditionLock()
    private let flag = CancelFlag()
    private let thread: HostThread<Void, Never>

    /// Starts the watchdog thread; it calls `stopper.stop()` at the deadline if ``cancel()`` has not run.
    init(stopper: VCPUStopper, seconds: Double) throws(KVMRuntimeError) {
        let deadline = ConditionLock.monotonicNow() + seconds
        let lock = self.lock, box = self.flag
        thread = try HostThread(name: "probe-watchdog", stackSize: 64 << 10) {
            let fire = lock.withLock { () -> Bool in
                while !box.value && ConditionLock.monotonicNow() < deadline { lock.wait(until: deadline) }
                return !box.value
            }
            if fire { stopper.stop() }
        }
    }

    /// Cancels the deadline (if it has not passed) and waits for the watchdog thread to end.
    func cancel() {
        lock.withLock {
            flag.value = true
            lock.broadcast()
        }
        thread.join()
    }
}

/// The watchdog's cancellation flag, read and written only with the watchdog's lock held.
private final class CancelFlag: @unchecked Sendable {
    // @unchecked Sendable: every access is under ProbeWatchdog's ConditionLock.
    var value = false
}
