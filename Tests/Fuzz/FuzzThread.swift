import Glibc

/// A joinable POSIX thread (signals are per thread, so vCPU threads must be real kernel threads).
final class FuzzThread: @unchecked Sendable {
    // @unchecked: only the thread that created it joins it.
    private var thread = pthread_t()
    private var joined = false

    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        // SAFETY: the box is retained once here and released exactly once, by the new thread or below
        // when the thread could not be created.
        let result = pthread_create(&thread, nil, { argument in
            let body = Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue()
            body.run()
            return nil
        }, box)
        if result != 0 {
            Unmanaged<Body>.fromOpaque(box).release()
            fatalError("kvm-fuzz: pthread_create failed (\(result))")
        }
    }

    func join() {
        guard !joined else { return }
        joined = true
        _ = pthread_join(thread, nil)
    }

    deinit { join() }
}

/// CLOCK_MONOTONIC.
enum Clock {
    static var nanoseconds: UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
    static var seconds: Double { Double(nanoseconds) / 1e9 }

    static func sleep(microseconds: Int) {
        var request = timespec(tv_sec: microseconds / 1_000_000, tv_nsec: (microseconds % 1_000_000) * 1000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
