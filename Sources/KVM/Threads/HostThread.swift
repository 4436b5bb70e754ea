import CKVMShims
import Glibc
import Synchronization

/// A joinable POSIX thread that runs one closure and keeps what it returns or throws.
///
/// A VMM needs real kernel threads, not tasks of the Swift concurrency pool: a vCPU belongs to
/// the thread that runs it, `KVM_RUN` blocks its thread for as long as the guest runs, and the
/// runtime stops a vCPU by signalling its thread. For vCPUs use
/// ``VirtualMachine/spawnVCPU(id:name:stackSize:_:)``, which also creates the vCPU on its thread;
/// use `HostThread` for the VMM's other threads (a console reader, a watchdog, a device's
/// worker).
///
/// ```swift
/// let reader = try HostThread(name: "console-in") { () -> Int in
///     // runs on its own thread
///     return bytesForwarded
/// }
/// let count = reader.join()
/// ```
///
/// The closure is `@Sendable`: it runs concurrently with the code that started it, so what it
/// captures must be safe to share (a `Mutex`, an `Atomic`, a `Sendable` class). ``join()`` waits for the closure and returns its result or throws
/// its error; it may be called from any thread, any number of times. A thread that is never
/// joined is detached when its last handle goes away (it runs to its end; its result is dropped).
public final class HostThread<Success: Sendable, Failure: Error>: Sendable {
    /// The pthread, until it is joined (then 0) or detached.
    private let handle: Mutex<pthread_t?>
    private let state: ThreadState<Success, Failure>

    /// Starts `body` on a new thread.
    ///
    /// - Parameters:
    ///   - name: The thread's name as `ps -L`, `top -H` and debuggers show it (at most 15 bytes
    ///     are kept), or nil to keep the process's.
    ///   - stackSize: The stack size in bytes (at least `PTHREAD_STACK_MIN`, 16 KiB), or nil for
    ///     the system's default (8 MiB of address space, committed as it is used).
    ///   - body: The thread's work.
    /// - Throws: ``KVMRuntimeError/invalidArgument(operation:reason:)`` for a stack size below the
    ///   minimum, ``KVMRuntimeError/system(_:)`` naming `pthread_create` (`EAGAIN` when the
    ///   process is out of threads).
    public init(name: String? = nil, stackSize: Int? = nil, _ body: @escaping @Sendable () throws(Failure) -> Success)
        throws(KVMRuntimeError)
    {
        let state = ThreadState(name: name, body: body)
        self.state = state
        self.handle = Mutex(try state.start(stackSize: stackSize))
    }

    deinit {
        // Never joined: let the thread finish on its own. (The state it writes is its own reference.)
        if let thread = handle.withLock({ $0 }) { _ = pthread_detach(thread) }
    }

    /// Waits for the thread to finish and returns what its closure returned, or throws what it threw.
    ///
    /// Call it from any thread but this one's own (a thread cannot wait for itself: that would never
    /// return). Later calls return the same result at once.
    public func join() throws(Failure) -> Success {
        handle.withLock { thread in
            guard let joined = thread else { return }
            precondition(pthread_equal(joined, pthread_self()) == 0, "HostThread.join() called on its own thread: it would wait forever")
            // Joins the thread this object created, exactly once (the handle is cleared under the lock).
            _ = pthread_join(joined, nil)
            thread = nil
        }
        // The thread has ended, so the outcome is set (see ThreadState.main).
        return try state.outcome.withLock { $0! }.get()
    }

    /// Whether the closure has returned or thrown (then ``join()`` returns at once).
    public var isFinished: Bool { state.outcome.withLock { $0 != nil } }
}

/// What a `pthread_create` start routine receives: the entry point, without generics (a C function
/// pointer cannot capture the generic parameters).
class ThreadEntry {
    func main() {}
}

/// A thread's closure and its outcome, shared by the thread and its handle.
final class ThreadState<Success: Sendable, Failure: Error>: ThreadEntry, @unchecked Sendable {
    // @unchecked Sendable: `body` (itself @Sendable) is written in init and taken once, by the
    // thread, before which the handle never touches it; `outcome` is a Mutex.
    private var body: (@Sendable () throws(Failure) -> Success)?
    private let name: String?
    let outcome = Mutex<Result<Success, Failure>?>(nil)

    init(name: String?, body: @escaping @Sendable () throws(Failure) -> Success) {
        self.name = name
        self.body = body
    }

    override func main() {
        if let name {
            // Linux keeps 15 bytes and a NUL; a longer name is cut at a UTF-8 boundary.
            var bytes = Array(name.utf8.prefix(15))
            while let last = bytes.last, last & 0xC0 == 0x80 { bytes.removeLast() }
            if let last = bytes.last, last >= 0xC0 { bytes.removeLast() }
            // SAFETY: names the calling thread from a NUL-terminated local buffer of at most 16 bytes.
            _ = String(decoding: bytes, as: UTF8.self).withCString { ckvm_set_thread_name($0) }
        }
        guard let body else { return }
        self.body = nil
        let result: Result<Success, Failure>
        do throws(Failure) {
            result = .success(try body())
        } catch {
            result = .failure(error)
        }
        outcome.withLock { $0 = result }
    }

    /// Creates the pthread; returns its handle.
    func start(stackSize: Int?) throws(KVMRuntimeError) -> pthread_t {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        if let stackSize {
            let minimum = 16384  // PTHREAD_STACK_MIN on Linux
            guard stackSize >= minimum else {
                throw .invalidArgument(operation: "HostThread(stackSize:)", reason: "\(stackSize) bytes is below the minimum (\(minimum))")
            }
            let result = pthread_attr_setstacksize(&attributes, stackSize)
            guard result == 0 else {
                throw .system(KVMError(operation: "pthread_attr_setstacksize", errno: .init(rawValue: result)))
            }
        }
        // The thread owns one retain of this object, released when its start routine returns.
        let argument = Unmanaged.passRetained(self as ThreadEntry).toOpaque()
        var thread = pthread_t()
        // SAFETY: the start routine has C's signature and captures nothing; it takes back exactly the
        // retain made above. If pthread_create fails, no thread took it, so it is released here.
        let result = pthread_create(&thread, &attributes, { argument in
            guard let argument else { return nil }
            Unmanaged<ThreadEntry>.fromOpaque(argument).takeRetainedValue().main()
            return nil
        }, argument)
        guard result == 0 else {
            Unmanaged<ThreadEntry>.fromOpaque(argument).release()
            throw .system(KVMError(operation: "pthread_create", errno: .init(rawValue: result)))
        }
        return thread
    }
}
