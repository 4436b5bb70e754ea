import Glibc
import SystemPackage
import Synchronization

/// Interrupts one thread (normally a vCPU thread blocked in `ioctl(KVM_RUN)`) from another.
///
/// A kicker records which thread to interrupt while that thread runs
/// ``withCurrentThreadAttached(_:)``, and ``kick(beforeSignal:)`` sends it the ``KickSignal``
/// with `pthread_kill`. The signal's handler does nothing and is installed without
/// `SA_RESTART`, so the thread's blocking system call returns `EINTR`.
///
/// ## Stopping a vCPU
///
/// A signal alone is racy: if it arrives while the vCPU thread is in user space, just before
/// it calls `KVM_RUN`, the handler runs, nothing is interrupted, and the thread then enters
/// the guest and may stay there indefinitely. KVM closes that window with
/// `kvm_run.immediate_exit`:
///
/// 1. The stopping thread calls `kick { run.immediate_exit = 1 }`: the closure runs first,
///    then the signal is sent. (The write is a single byte to the shared `kvm_run` page;
///    `pthread_kill` is a full barrier, so the vCPU thread sees the byte by the time it
///    handles the signal.)
/// 2. If the vCPU thread is inside `KVM_RUN`, the pending signal makes the kernel leave the
///    guest and return `EINTR`. If it is in user space, the handler runs, and its next
///    `KVM_RUN` sees `immediate_exit == 1` and returns `EINTR` at once without entering the
///    guest.
/// 3. On `EINTR` the vCPU loop sets `immediate_exit = 0`, looks at whatever request the
///    stopping thread published (pause, shut down, ...), and acts on it.
///
/// ## Thread lifetime
///
/// A `pthread_t` may be reused once its thread has exited, so signalling a stale one could
/// hit an unrelated thread. The kicker therefore only knows a thread while it is inside
/// ``withCurrentThreadAttached(_:)``, and a kick holds the kicker's lock while it signals:
/// the attached thread cannot finish detaching (and so cannot exit) in the middle of a kick.
public final class VCPUKicker: Sendable {
    /// The signal this kicker sends.
    public let signal: KickSignal

    /// The attached thread, if any. Held locked while signalling (see "Thread lifetime").
    private let target = Mutex<pthread_t?>(nil)

    /// How many signals this kicker has sent.
    private let sentKicks = Atomic<UInt64>(0)

    /// Creates a kicker, installing the signal's handler if this process has not yet.
    ///
    /// - Parameter signal: The signal to send; ``KickSignal/default`` unless the process uses it.
    /// - Throws: What ``KickSignal/installHandler()`` throws.
    public init(signal: KickSignal = .default) throws(KVMError) {
        try signal.installHandler()
        self.signal = signal
    }

    /// Runs `body` on the calling thread with that thread registered as the kick target.
    ///
    /// The kick signal is unblocked in the thread for the duration, and its previous mask is
    /// restored afterwards. `body` should contain the whole vCPU run loop.
    ///
    /// - Parameter body: The work to run while kicks are directed at this thread.
    /// - Returns: What `body` returns.
    /// - Throws: ``KVMError`` with operation `"VCPUKicker.attach"` and `EBUSY` if another
    ///   thread is already attached, what ``KickSignal/unblockInCurrentThread()`` throws, or
    ///   what `body` throws.
    public func withCurrentThreadAttached<Result>(_ body: () throws -> Result) throws -> Result {
        let wasBlocked = try signal.unblockInCurrentThread()
        defer { signal.restoreMask(wasBlocked: wasBlocked) }
        let this = pthread_self()
        let attached = target.withLock { current in
            guard current == nil else { return false }
            current = this
            return true
        }
        guard attached else {
            throw KVMError(operation: "VCPUKicker.attach", errno: .resourceBusy)
        }
        // Takes the lock, so waits for any kick in progress before the thread may exit.
        defer { target.withLock { $0 = nil } }
        return try body()
    }

    /// Whether a thread is currently attached.
    public var hasAttachedThread: Bool {
        target.withLock { $0 != nil }
    }

    /// The number of signals this kicker has sent.
    public var kickCount: UInt64 {
        sentKicks.load(ordering: .relaxed)
    }

    /// Interrupts the attached thread.
    ///
    /// `prepare` runs first, with the kicker locked, and only if a thread is attached; use it
    /// to set `kvm_run.immediate_exit` (see the type's discussion). Then the signal is sent.
    /// Calling this from the attached thread itself is allowed: the handler runs before
    /// `pthread_kill` returns.
    ///
    /// - Parameter prepare: Work to do before signalling, such as publishing a stop request.
    ///   It must not call back into this kicker.
    /// - Returns: `true` if a thread was attached and signalled, `false` if none was attached.
    /// - Throws: ``KVMError`` with operation `"pthread_kill"` if signalling failed.
    @discardableResult
    public func kick(beforeSignal prepare: () -> Void = {}) throws(KVMError) -> Bool {
        let signalNumber = signal.rawValue
        let result: Int32? = target.withLock { current in
            guard let thread = current else { return nil }
            prepare()
            // The thread is attached and cannot detach while we hold the lock, so `thread`
            // names a live thread; the handler for the signal is installed (by init).
            return pthread_kill(thread, signalNumber)
        }
        guard let result else { return false }
        guard result == 0 else {
            throw KVMError(operation: "pthread_kill", errno: Errno(rawValue: result))
        }
        sentKicks.add(1, ordering: .relaxed)
        return true
    }
}
