import Glibc

/// A vCPU running on a thread of its own: what ``VirtualMachine/spawnVCPU(id:name:stackSize:_:)``
/// returns.
///
/// The vCPU was created on that thread (a ``VCPU`` belongs to the thread that runs it, and is not
/// `Sendable`); the handle gives the other threads what they may use: the vCPU's ``id``, its
/// ``stopper``, and ``join()`` for the closure's result.
public final class VCPUThread<Success: Sendable, Failure: Error>: Sendable {
    /// The vCPU's id (`KVM_CREATE_VCPU`'s argument).
    public let id: UInt
    /// Stops the vCPU's `run()` from any thread (see ``VCPUStopper``).
    public let stopper: VCPUStopper
    private let thread: HostThread<Success?, Failure>

    init(id: UInt, stopper: VCPUStopper, thread: HostThread<Success?, Failure>) {
        self.id = id
        self.stopper = stopper
        self.thread = thread
    }

    /// Waits for the vCPU's closure to finish; returns what it returned or throws what it threw.
    /// Later calls return the same result at once.
    public func join() throws(Failure) -> Success {
        // The closure ran (this handle exists only once the vCPU was created), so the thread's
        // result is the closure's, never the nil of a failed creation.
        try thread.join()!
    }

    /// Whether the closure has returned or thrown.
    public var isFinished: Bool { thread.isFinished }

    /// Asks the vCPU to return from `run()` with `.stopped` (``VCPUStopper/stop()``).
    public func stop() { stopper.stop() }
}

extension VirtualMachine {
    /// Starts a thread, creates vCPU `id` on it (`KVM_CREATE_VCPU`), and runs `body` with the vCPU
    /// there: the usual shape of a VMM's vCPU thread, without a pthread trampoline of its own.
    ///
    /// Returns once the vCPU exists, so vCPUs spawned one after another are created in that order
    /// (the boot processor first), and a failure to create one is thrown here, not lost on its
    /// thread. The vCPU lives until `body` returns.
    ///
    /// ```swift
    /// let vcpu0 = try vm.spawnVCPU(id: 0) { vcpu in
    ///     try vcpu.setRegisters(entryState)
    ///     var exits = 0
    ///     while true {
    ///         switch try vcpu.run() {
    ///         case .halt: return exits
    ///         case .stopped: return exits
    ///         default: exits += 1
    ///         }
    ///     }
    /// }
    /// // ... elsewhere: vcpu0.stop()
    /// let exits = try vcpu0.join()
    /// ```
    ///
    /// - Parameters:
    ///   - id: The vCPU id.
    ///   - name: The thread's name (default `vcpu<id>`), as `top -H` and debuggers show it.
    ///   - stackSize: The thread's stack size in bytes, or nil for the system's default.
    ///   - body: The vCPU's work, run on the new thread (so `@Sendable`: it runs concurrently with
    ///     the caller).
    /// - Returns: A handle with the vCPU's stopper and the closure's result.
    /// - Throws: What ``createVCPU(id:)`` throws (on the new thread, passed back), or what
    ///   ``HostThread/init(name:stackSize:_:)`` throws.
    public func spawnVCPU<Success: Sendable, Failure: Error>(
        id: UInt, name: String? = nil, stackSize: Int? = nil, _ body: @escaping @Sendable (VCPU) throws(Failure) -> Success
    ) throws(KVMRuntimeError) -> VCPUThread<Success, Failure> {
        let created = Handoff<Result<VCPUStopper, KVMRuntimeError>>()
        let thread = try HostThread(name: name ?? "vcpu\(id)", stackSize: stackSize) { () throws(Failure) -> Success? in
            let vcpu: VCPU
            do throws(KVMRuntimeError) {
                vcpu = try self.createVCPU(id: id)
            } catch {
                created.put(.failure(error))
                return nil
            }
            created.put(.success(vcpu.stopper))
            return try body(vcpu)
        }
        switch created.take() {
        case .success(let stopper):
            return VCPUThread(id: id, stopper: stopper, thread: thread)
        case .failure(let error):
            _ = try? thread.join()
            throw error
        }
    }
}

/// One value passed from one thread to another: `take()` waits until `put(_:)` has run.
final class Handoff<Value: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `value` is only touched with `lock` held.
    private let lock = ConditionLock()
    private var value: Value?

    func put(_ newValue: Value) {
        lock.withLock {
            value = newValue
            lock.broadcast()
        }
    }

    func take() -> Value {
        lock.withLock {
            while value == nil { lock.wait() }
            return value!
        }
    }
}
