import Glibc
import Testing
import KVM

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
        #expect(throws: KVMRuntimeError.invalidArgument(
            operation: "KickSignal.installHandler()",
            reason: "\(signal) already has a handler that is not this runtime's (choose another offset)")
        ) {
            try signal.installHandler()
        }
        #expect(!signal.isHandlerInstalled)
    }
}
