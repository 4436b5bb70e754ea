// Just enough threading for one thread per vCPU, a watchdog and a stdin reader, on pthreads directly
// (no Foundation): a lock with a condition variable, and `spawn`.

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

/// A started thread; `join()` waits for it.
struct SpawnedThread {
    let handle: pthread_t

    func join() { pthread_join(handle, nil) }
}

private final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Starts `body` on a new thread (8 MiB stack is the default; vCPU loops need far less).
func spawn(stackSize: Int = 256 * 1024, _ body: @escaping @Sendable () -> Void) -> SpawnedThread? {
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, stackSize)
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var handle = pthread_t()
    let result = pthread_create(&handle, &attributes, { argument in
        let body = Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue()
        body.body()
        return nil
    }, box)
    guard result == 0 else {
        Unmanaged<ThreadBody>.fromOpaque(box).release()
        return nil
    }
    return SpawnedThread(handle: handle)
}
