import Glibc
import Synchronization
import SystemPackage
import Testing
import KVM

/// Kicks a real thread out of blocking system calls.
///
/// A kick that lands before the thread has entered its system call only runs the (no-op)
/// handler, so each test kicks repeatedly until the thread reports back; that is exactly the
/// window `kvm_run.immediate_exit` closes for `KVM_RUN`.
@Suite struct KickTests {
    /// Kicks every 5 ms until `done` returns true, for at most `timeoutMilliseconds`.
    static func kickUntil(
        _ kicker: VCPUKicker, timeoutMilliseconds: Int = 5000, _ done: () -> Bool
    ) throws -> Bool {
        var waited = 0
        while !done() {
            guard waited < timeoutMilliseconds else { return false }
            try kicker.kick()
            sleep(milliseconds: 5)
            waited += 5
        }
        return true
    }

    /// Waits (without kicking) until `condition` holds.
    static func wait(timeoutMilliseconds: Int = 5000, until condition: () -> Bool) -> Bool {
        var waited = 0
        while !condition() {
            guard waited < timeoutMilliseconds else { return false }
            sleep(milliseconds: 1)
            waited += 1
        }
        return true
    }

    @Test func kickInterruptsBlockingRead() throws {
        let kicker = try VCPUKicker()
        let pipe = try FileDescriptor.pipe()
        defer {
            try? pipe.readEnd.close()
            try? pipe.writeEnd.close()
        }
        let readEnd = pipe.readEnd.rawValue
        // -1: still blocked; otherwise the errno read() failed with (0 if it returned data).
        let outcome = Atomic<Int32>(-1)

        let thread = try TestThread {
            do {
                try kicker.withCurrentThreadAttached {
                    var byte: UInt8 = 0
                    // SAFETY: reads at most one byte into a local.
                    let count = unsafe read(readEnd, &byte, 1)
                    outcome.store(count < 0 ? errno : 0, ordering: .sequentiallyConsistent)
                }
            } catch {
                outcome.store(-2, ordering: .sequentiallyConsistent)
            }
        }
        #expect(Self.wait { kicker.hasAttachedThread || outcome.load(ordering: .sequentiallyConsistent) != -1 })
        let interrupted = try Self.kickUntil(kicker) { outcome.load(ordering: .sequentiallyConsistent) != -1 }
        if !interrupted {
            // Unblock the thread so the test can finish, then fail.
            _ = try pipe.writeEnd.writeAll([UInt8(1)])
        }
        thread.join()
        #expect(interrupted)
        #expect(outcome.load(ordering: .sequentiallyConsistent) == EINTR)
        #expect(kicker.kickCount >= 1)
        #expect(!kicker.hasAttachedThread)
    }

    @Test func kickInterruptsNanosleep() throws {
        let kicker = try VCPUKicker()
        let outcome = Atomic<Int32>(-1)
        let thread = try TestThread {
            try? kicker.withCurrentThreadAttached {
                var request = timespec(tv_sec: 30, tv_nsec: 0)
                var remaining = timespec()
                // SAFETY: both timespecs are locals.
                let result = unsafe nanosleep(&request, &remaining)
                outcome.store(result == 0 ? 0 : errno, ordering: .sequentiallyConsistent)
            }
        }
        #expect(Self.wait { kicker.hasAttachedThread })
        let interrupted = try Self.kickUntil(kicker, timeoutMilliseconds: 20_000) {
            outcome.load(ordering: .sequentiallyConsistent) != -1
        }
        thread.join()
        #expect(interrupted)
        #expect(outcome.load(ordering: .sequentiallyConsistent) == EINTR)
    }

    @Test func prepareRunsBeforeTheSignal() throws {
        let kicker = try VCPUKicker()
        let pipe = try FileDescriptor.pipe()
        defer {
            try? pipe.readEnd.close()
            try? pipe.writeEnd.close()
        }
        let readEnd = pipe.readEnd.rawValue
        // Stands in for kvm_run.immediate_exit.
        let immediateExit = Atomic<Bool>(false)
        let sawFlagAfterInterrupt = Atomic<Int>(-1)
        let thread = try TestThread {
            try? kicker.withCurrentThreadAttached {
                while true {
                    var byte: UInt8 = 0
                    // SAFETY: reads at most one byte into a local.
                    let count = unsafe read(readEnd, &byte, 1)
                    if count < 0, errno == EINTR, immediateExit.load(ordering: .sequentiallyConsistent) {
                        sawFlagAfterInterrupt.store(1, ordering: .sequentiallyConsistent)
                        return
                    }
                    if count >= 0 { return }
                }
            }
        }
        #expect(Self.wait { kicker.hasAttachedThread })
        var waited = 0
        while sawFlagAfterInterrupt.load(ordering: .sequentiallyConsistent) == -1, waited < 5000 {
            try kicker.kick { immediateExit.store(true, ordering: .sequentiallyConsistent) }
            sleep(milliseconds: 5)
            waited += 5
        }
        if sawFlagAfterInterrupt.load(ordering: .sequentiallyConsistent) == -1 {
            _ = try pipe.writeEnd.writeAll([UInt8(1)])
        }
        thread.join()
        #expect(sawFlagAfterInterrupt.load(ordering: .sequentiallyConsistent) == 1)
    }

    @Test func kickWithoutAttachedThreadDoesNothing() throws {
        let kicker = try VCPUKicker()
        var prepared = false
        #expect(try kicker.kick { prepared = true } == false)
        #expect(!prepared)
        #expect(kicker.kickCount == 0)
    }

    @Test func kickingTheCurrentThreadRunsTheHandlerAndReturns() throws {
        let kicker = try VCPUKicker()
        let sent = try kicker.withCurrentThreadAttached { try kicker.kick() }
        #expect(sent)
        #expect(kicker.kickCount == 1)
    }

    @Test func secondThreadCannotAttach() throws {
        let kicker = try VCPUKicker()
        let secondResult = Mutex<KVMError?>(nil)
        try kicker.withCurrentThreadAttached {
            let thread = try TestThread {
                do {
                    try kicker.withCurrentThreadAttached {}
                } catch let error as KVMError {
                    secondResult.withLock { $0 = error }
                } catch {}
            }
            thread.join()
        }
        #expect(secondResult.withLock { $0 } == KVMError(operation: "VCPUKicker.attach", errno: .resourceBusy))
    }

    @Test func signalMaskIsRestoredAfterDetaching() throws {
        let signal = try #require(KickSignal.realTime(offset: 1))
        let kicker = try VCPUKicker(signal: signal)
        let observations = Mutex<[Bool]>([])
        let thread = try TestThread {
            func isBlocked() -> Bool {
                var current = sigset_t()
                // SAFETY: reads the thread's mask into a local.
                _ = unsafe pthread_sigmask(SIG_BLOCK, nil, &current)
                return unsafe sigismember(&current, signal.rawValue) == 1
            }
            var set = sigset_t()
            // SAFETY: local sigset manipulation; blocks the signal in this test thread only.
            unsafe sigemptyset(&set)
            unsafe sigaddset(&set, signal.rawValue)
            _ = unsafe pthread_sigmask(SIG_BLOCK, &set, nil)
            try? kicker.withCurrentThreadAttached {
                observations.withLock { $0.append(isBlocked()) }
            }
            observations.withLock { $0.append(isBlocked()) }
        }
        thread.join()
        #expect(observations.withLock { $0 } == [false, true])
    }
}

@Suite struct KickSignalTests {
    @Test func defaultIsSIGRTMIN() {
        let signal = KickSignal.default
        #expect(signal.offset == 0)
        #expect(signal.rawValue == __libc_current_sigrtmin())
        #expect(signal.description == "SIGRTMIN+0 (\(signal.rawValue))")
    }

    @Test func validatesRange() {
        let span = __libc_current_sigrtmax() - __libc_current_sigrtmin()
        #expect(KickSignal.realTime(offset: -1) == nil)
        #expect(KickSignal.realTime(offset: span)?.rawValue == __libc_current_sigrtmax())
        #expect(KickSignal.realTime(offset: span + 1) == nil)
        #expect(KickSignal(rawValue: SIGUSR1) == nil)
    }

    @Test func installIsIdempotentAndWithoutSARestart() throws {
        let signal = try #require(KickSignal.realTime(offset: 2))
        try signal.installHandler()
        try signal.installHandler()
        #expect(signal.isHandlerInstalled)
        var action = sigaction()
        // SAFETY: queries the current action into a local.
        _ = unsafe sigaction(signal.rawValue, nil, &action)
        #expect(action.sa_flags & Int32(SA_RESTART) == 0)
        #expect(action.sa_flags & Int32(SA_SIGINFO) == 0)
    }

    @Test func refusesASignalSomeoneElseHandles() throws {
        let signal = try #require(KickSignal.realTime(offset: 5))
        var foreign = sigaction()
        // SAFETY: installs a no-op handler of the right signature for a signal no test sends.
        unsafe foreign.__sigaction_handler.sa_handler = { _ in }
        _ = unsafe sigaction(signal.rawValue, &foreign, nil)
        defer {
            var defaultAction = sigaction()
            // SAFETY: restores SIG_DFL (a null handler).
            _ = unsafe sigaction(signal.rawValue, &defaultAction, nil)
        }
        #expect(throws: KVMError(operation: "sigaction", errno: .resourceBusy)) {
            try signal.installHandler()
        }
        #expect(!signal.isHandlerInstalled)
    }
}
