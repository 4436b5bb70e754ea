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
    private let requested = Atomic<Bool>(false)
    /// The pthread inside `run()`, if any. A signal is only ever sent under this lock, and a thread detaches
    /// under it before leaving `run()`, so `pthread_kill` never targets a thread that may have exited.
    private let running = Mutex<pthread_t?>(nil)

    init(signal: KickSignal) {
        self.signal = signal
    }

    /// Asks the vCPU to return from `run()` with `.stopped` as soon as possible; returns at once.
    /// Safe to call from any thread, any number of times, before or during a run.
    public func stop() {
        requested.store(true, ordering: .sequentiallyConsistent)
        running.withLock { thread in
            guard let thread else { return }
            // SAFETY: `thread` is inside `run()` and cannot detach (and so cannot exit) while we hold the lock.
            _ = pthread_kill(thread, signal.rawValue)
        }
    }

    /// Whether a stop was requested and not yet reported.
    public var isStopRequested: Bool { requested.load(ordering: .sequentiallyConsistent) }

    /// Called by the vCPU thread on entering `run()`, before it checks for a stop request.
    func attach(_ thread: pthread_t) { running.withLock { $0 = thread } }

    /// Called by the vCPU thread before leaving `run()`.
    func detach() { running.withLock { $0 = nil } }

    /// Takes the stop request, if any, draining the kick signal it may have left pending.
    func takeRequest() -> Bool {
        guard requested.exchange(false, ordering: .sequentiallyConsistent) else { return false }
        drainPendingSignal()
        return true
    }

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
