import Glibc
import Synchronization

/// The real-time signal used to interrupt vCPU threads, and its process-wide handler.
///
/// Delivering a signal to a thread blocked in `ioctl(KVM_RUN)` makes the ioctl return `EINTR`,
/// which is how a VMM stops a running vCPU. For that to work the signal must have a handler
/// (a signal whose action is "terminate" or "ignore" does not interrupt anything useful),
/// and the handler must be installed *without* `SA_RESTART`, or the kernel would restart the
/// interrupted system call instead of returning `EINTR`.
///
/// ``installHandler()`` installs a handler that does nothing, once per process and signal.
/// The default signal is `SIGRTMIN + 0` (the same choice as Firecracker and Cloud Hypervisor);
/// use ``realTime(offset:)`` to pick another if the process already uses that one.
///
/// Because the handler is installed without `SA_RESTART`, any *other* blocking system call
/// made by a thread that receives the signal (a `read` in device emulation running on the
/// vCPU thread, say) can also fail with `EINTR`, and must be retried by its caller.
public struct KickSignal: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The signal number, between `SIGRTMIN` and `SIGRTMAX` inclusive.
    public let rawValue: Int32

    /// Wraps a real-time signal number.
    ///
    /// - Parameter rawValue: A signal number; must lie in `SIGRTMIN ... SIGRTMAX`.
    /// - Returns: `nil` if `rawValue` is not a real-time signal available to applications.
    public init?(rawValue: Int32) {
        guard rawValue >= Self.minimum, rawValue <= Self.maximum else { return nil }
        self.rawValue = rawValue
    }

    /// `SIGRTMIN + offset`, or `nil` if that is beyond `SIGRTMAX` or `offset` is negative.
    ///
    /// - Parameter offset: The distance from `SIGRTMIN`.
    /// - Returns: The signal.
    public static func realTime(offset: Int32) -> KickSignal? {
        guard offset >= 0, offset <= maximum - minimum else { return nil }
        return KickSignal(rawValue: minimum + offset)
    }

    /// The default kick signal: `SIGRTMIN + 0`.
    public static var `default`: KickSignal {
        // SIGRTMIN itself is always within SIGRTMIN ... SIGRTMAX.
        KickSignal(uncheckedRawValue: minimum)
    }

    private init(uncheckedRawValue: Int32) {
        self.rawValue = uncheckedRawValue
    }

    /// glibc's `SIGRTMIN` (a function call in C, since glibc reserves the first few real-time
    /// signals for itself).
    private static var minimum: Int32 { __libc_current_sigrtmin() }

    /// glibc's `SIGRTMAX`.
    private static var maximum: Int32 { __libc_current_sigrtmax() }

    /// The offset from `SIGRTMIN`.
    public var offset: Int32 { rawValue - Self.minimum }

    /// A name such as `SIGRTMIN+0 (34)`.
    public var description: String {
        "SIGRTMIN+\(offset) (\(rawValue))"
    }

    // MARK: Handler

    /// Installs the no-op handler for this signal, without `SA_RESTART`.
    ///
    /// Safe to call any number of times from any thread: the first call for a given signal
    /// installs the handler and later calls do nothing.
    ///
    /// - Throws: ``KVMRuntimeError/invalidArgument(operation:reason:)`` if a handler that is not
    ///   this runtime's is already installed for the signal (the process uses it for something
    ///   else; choose another offset), or ``KVMRuntimeError/system(_:)`` with the error
    ///   `sigaction` reported.
    public func installHandler() throws(KVMRuntimeError) {
        let signal = rawValue
        try installedKickSignals.withLock { (installed: inout Set<Int32>) throws(KVMRuntimeError) in
            if installed.contains(signal) { return }
            var previous = sigaction()
            // SAFETY: sigaction with a null new action only reads the current one into a
            // properly initialized local struct.
            guard unsafe sigaction(signal, nil, &previous) == 0 else {
                throw .system(KVMError.fromCurrentErrno(operation: "sigaction"))
            }
            let previousBits = handlerBits(previous)
            // 0 is SIG_DFL and 1 is SIG_IGN: nobody is using the signal.
            guard previousBits <= 1 || previousBits == handlerBits(Self.noOpAction()) else {
                throw .invalidArgument(
                    operation: "KickSignal.installHandler()",
                    reason: "\(self) already has a handler that is not this runtime's (choose another offset)")
            }
            var action = Self.noOpAction()
            // SAFETY: installs a handler that touches no state (so it is async-signal-safe) for
            // a signal this process does not otherwise use (checked above); `action` is a fully
            // initialized local.
            guard unsafe sigaction(signal, &action, nil) == 0 else {
                throw .system(KVMError.fromCurrentErrno(operation: "sigaction"))
            }
            installed.insert(signal)
        }
    }

    /// Whether ``installHandler()`` has installed the handler for this signal in this process.
    public var isHandlerInstalled: Bool {
        installedKickSignals.withLock { $0.contains(rawValue) }
    }

    /// The action this runtime installs: the no-op handler, an empty mask, and no flags (in
    /// particular no `SA_RESTART`, so interrupted system calls fail with `EINTR`).
    private static func noOpAction() -> sigaction {
        var action = sigaction()
        // SAFETY: storing a C function pointer to a function with the signature the kernel
        // calls (void (*)(int)) into the handler union's sa_handler member; SA_SIGINFO is not
        // set, so the kernel reads that member.
        unsafe action.__sigaction_handler.sa_handler = kickSignalHandler
        action.sa_flags = 0
        // SAFETY: sigemptyset initializes the mask field of a local struct in place.
        _ = unsafe sigemptyset(&action.sa_mask)
        return action
    }
}

/// The signals whose handler this process has installed.
private let installedKickSignals = Mutex<Set<Int32>>([])

/// The kick handler: it does nothing. Its only purpose is to exist, so that delivering the
/// signal interrupts a blocking system call instead of killing or being ignored by the process.
private func kickSignalHandler(_ signal: Int32) {}

/// The handler field of a `sigaction` as an integer (it is a union of two function pointers).
private func handlerBits(_ action: sigaction) -> UInt {
    // SAFETY: the union is exactly one pointer wide (checked by the `count ==` condition);
    // reading its bytes as an integer inspects the pointer value without calling it.
    unsafe withUnsafeBytes(of: action.__sigaction_handler) { bytes in
        bytes.count == MemoryLayout<UInt>.size ? unsafe bytes.loadUnaligned(as: UInt.self) : UInt.max
    }
}
