// A mutex and a condition variable on CLOCK_MONOTONIC: the runtime's one wrapper of pthread_cond.

import Glibc

/// A mutex with a condition variable on CLOCK_MONOTONIC, for the few places where a VMM thread must
/// wait for another's state (vCPUs ready, an outcome, a deadline) rather than only lock it
/// (for that, Synchronization's `Mutex` is enough).
///
/// ```swift
/// let lock = ConditionLock()
/// let deadline = ConditionLock.monotonicNow() + 5
/// lock.withLock {
///     while !done { lock.wait(until: deadline); if ConditionLock.monotonicNow() >= deadline { break } }
/// }
/// ```
public final class ConditionLock: @unchecked Sendable {
    // @unchecked Sendable: the pthread objects are used only through the pthread calls below, which are
    // thread-safe; they live as long as the lock.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        // SAFETY: initializes freshly allocated pthread objects; the condition waits on CLOCK_MONOTONIC.
        unsafe pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        unsafe pthread_condattr_init(&attributes)
        unsafe pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        unsafe pthread_cond_init(condition, &attributes)
        unsafe pthread_condattr_destroy(&attributes)
    }

    deinit {
        // SAFETY: no thread holds or waits on them any more (it would hold a reference to the lock).
        unsafe pthread_cond_destroy(condition)
        unsafe pthread_mutex_destroy(mutex)
        unsafe condition.deallocate()
        unsafe mutex.deallocate()
    }

    /// Runs `body` with the mutex held.
    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        // SAFETY: the mutex was initialized in init and lives as long as self.
        unsafe pthread_mutex_lock(mutex)
        defer { unsafe pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Wakes every thread in ``wait(until:)``. Call it with the mutex held, after changing the state
    /// they wait for.
    public func broadcast() {
        // SAFETY: as in withLock.
        unsafe pthread_cond_broadcast(condition)
    }

    /// With the mutex held (inside ``withLock(_:)``): releases it, waits for a ``broadcast()`` or
    /// until `deadline` (``monotonicNow()`` seconds; nil: no deadline), and takes it again. May
    /// return early (spuriously): wait in a loop that checks the state.
    public func wait(until deadline: Double? = nil) {
        guard let deadline else {
            // SAFETY: as in withLock; pthread_cond_wait releases and retakes the held mutex.
            unsafe pthread_cond_wait(condition, mutex)
            return
        }
        let seconds = max(0, deadline)
        var time = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        // SAFETY: as above; the timespec is a local.
        unsafe pthread_cond_timedwait(condition, mutex, &time)
    }

    /// CLOCK_MONOTONIC in seconds: the clock of ``wait(until:)``'s deadlines.
    public static func monotonicNow() -> Double {
        var time = timespec()
        // SAFETY: clock_gettime writes the local timespec.
        unsafe clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
