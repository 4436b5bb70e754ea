import Glibc
import KVMBindings
import Synchronization

/// Stops a running vCPU from another thread, soundly and without touching `kvm_run`.
///
/// The protocol (race-free without `immediate_exit`, so no other thread writes the vCPU's shared page):
/// 1. The vCPU thread blocks the kick signal and tells KVM (`KVM_SET_SIGNAL_MASK`) to unblock it only
///    while the guest runs.
/// 2. `stop()` sets a flag, then sends the signal to the vCPU thread.
/// 3. If the guest is running, the signal makes `KVM_RUN` return `EINTR`. If the thread is outside
///    `KVM_RUN`, the signal stays pending (blocked), so the next `KVM_RUN` returns `EINTR` at once:
///    the window between checking the flag and entering the guest cannot lose a stop.
/// 4. The vCPU thread consumes the pending signal with `sigtimedwait` and reports `.stopped`.
public final class VCPUStopper: Sendable {
    /// The signal used to kick vCPU threads (a real-time signal with a no-op handler, never `SA_RESTART`).
    public let signal: KickSignal
    @usableFromInline let requested = Atomic<Bool>(false)
    /// The pthread inside `run()`, or 0.
    @usableFromInline let running = Atomic<UInt>(0)
    /// Stops between reading `running` and finishing `pthread_kill`. `detach()` clears `running`, then
    /// waits for this to drop to 0, so `pthread_kill` never targets a thread that has left `run()` (and so
    /// may have exited). With sequentially consistent operations either `stop()` reads 0, or `detach()`
    /// sees the stop in progress.
    @usableFromInline let kicksInProgress = Atomic<Int>(0)

    init(signal: KickSignal) {
        self.signal = signal
    }

    /// Asks the vCPU to return from `run()` with `.stopped` as soon as possible; returns at once.
    /// Safe to call from any thread, any number of times, before or during a run.
    public func stop() {
        requested.store(true, ordering: .sequentiallyConsistent)
        kicksInProgress.add(1, ordering: .sequentiallyConsistent)
        let thread = running.load(ordering: .sequentiallyConsistent)
        if thread != 0 {
            // SAFETY: `thread` is inside `run()`: detach() waits for kicksInProgress to drop before the
            // thread may leave run(), so the thread exists for the duration of this call.
            _ = pthread_kill(pthread_t(thread), signal.rawValue)
        }
        kicksInProgress.subtract(1, ordering: .sequentiallyConsistent)
    }

    /// Whether a stop was requested and not yet reported.
    @inlinable
    public var isStopRequested: Bool { requested.load(ordering: .sequentiallyConsistent) }

    /// Called by the vCPU thread on entering `run()`, before it checks for a stop request.
    @inlinable
    func attach(_ thread: pthread_t) { running.store(UInt(thread), ordering: .sequentiallyConsistent) }

    /// Called by the vCPU thread before leaving `run()`; waits out a `stop()` that may be signalling it.
    @inlinable
    func detach() {
        running.store(0, ordering: .sequentiallyConsistent)
        while kicksInProgress.load(ordering: .sequentiallyConsistent) != 0 { sched_yield() }
    }

    /// Takes the stop request, if any, draining the kick signal it may have left pending. Out of line:
    /// `run()` calls it only after `isStopRequested` (a plain load) or an interrupted `KVM_RUN`.
    @inline(never) @usableFromInline
    func takeRequest() -> Bool {
        guard requested.exchange(false, ordering: .sequentiallyConsistent) else { return false }
        drainPendingSignal()
        return true
    }

    @inline(never) @usableFromInline
    func drainPendingSignal() {
        var set = sigset_t()
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        // SAFETY: sigemptyset/sigaddset initialize a local sigset_t; sigtimedwait with a zero timeout
        // only dequeues a pending, blocked kick signal of this thread (EAGAIN when there is none).
        sigemptyset(&set)
        sigaddset(&set, signal.rawValue)
        while sigtimedwait(&set, nil, &zero) == signal.rawValue {}
    }
}
