import Glibc
import SystemPackage

/// A minimal joinable pthread for a device's worker.
///
/// The runtime has no thread helper yet (one is being added for vCPU threads); when it lands, this
/// type should be replaced by it.
struct WorkerThread: Sendable {
    private let handle: pthread_t

    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Starts `body` on a new thread with a small stack (device work needs little).
    init(stackSize: Int = 256 * 1024, _ body: @escaping @Sendable () -> Void) throws(VirtioDeviceError) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackSize)
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        var handle = pthread_t()
        // SAFETY: `box` is a retained Body; the new thread takes that reference over exactly once.
        let result = unsafe pthread_create(&handle, &attributes, { argument in
            let body = unsafe Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue()
            body.run()
            return nil
        }, box)
        guard result == 0 else {
            // SAFETY: the thread was not created, so the reference is still ours to release.
            unsafe Unmanaged<Body>.fromOpaque(box).release()
            throw .system(operation: "pthread_create", errno: Errno(rawValue: result))
        }
        self.handle = handle
    }

    /// Waits for the thread to end; call exactly once per thread.
    func join() {
        pthread_join(handle, nil)
    }
}
