import Glibc

/// A joinable POSIX thread for tests that need a real, separate kernel thread (signals are
/// delivered per thread, so the Swift concurrency pool is no substitute).
final class TestThread {
    private var thread: pthread_t = 0
    private var joined = false

    struct StartError: Error {
        var code: Int32
    }

    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    init(_ body: @escaping @Sendable () -> Void) throws {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        // SAFETY: the box is retained once here and released exactly once, by the thread (or
        // below if the thread could not be created); the start routine has C's signature.
        let result = unsafe pthread_create(&thread, nil, { argument in
            guard let argument = unsafe argument else { return nil }
            let box = unsafe Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
            box.body()
            return nil
        }, box)
        guard result == 0 else {
            unsafe Unmanaged<Box>.fromOpaque(box).release()
            throw StartError(code: result)
        }
    }

    /// Waits for the thread to finish.
    func join() {
        guard !joined else { return }
        joined = true
        // Joins a thread this object created and has not joined yet.
        _ = pthread_join(thread, nil)
    }

    deinit {
        join()
    }
}

/// Sleeps the calling thread for `milliseconds`.
func sleep(milliseconds: Int) {
    var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var remaining = timespec()
    // SAFETY: both timespecs are locals; nanosleep only reads one and writes the other.
    while unsafe nanosleep(&request, &remaining) != 0, errno == EINTR {
        request = remaining
    }
}
