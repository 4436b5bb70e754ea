// What the machine's threads wait with, on pthreads directly (no Foundation): a lock with a condition
// variable, and a monotonic clock. The threads themselves are the runtime's (`VirtualMachine.spawnVCPU`,
// `HostThread`).

import Glibc

/// A mutex and a condition variable.
final class Lock: @unchecked Sendable {
    // @unchecked: the pthread objects are only used through the pthread calls below, which are thread-safe.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Wakes every `wait`.
    func broadcast() { pthread_cond_broadcast(condition) }

    /// With the lock held: waits for a broadcast or until `deadline` (CLOCK_MONOTONIC seconds).
    func wait(until deadline: Double?) {
        guard let deadline else {
            pthread_cond_wait(condition, mutex)
            return
        }
        var time = timespec(tv_sec: Int(deadline), tv_nsec: Int((deadline - Double(Int(deadline))) * 1e9))
        pthread_cond_timedwait(condition, mutex, &time)
    }
}

/// CLOCK_MONOTONIC in seconds.
func monotonicNow() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
