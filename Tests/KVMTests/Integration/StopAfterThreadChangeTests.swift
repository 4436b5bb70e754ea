import Glibc
import KVM
import KVMBindings
import Synchronization
import Testing

extension IntegrationTests {
    /// Scenario 6c: the stop protocol's precondition (the kick signal is blocked in the vCPU thread
    /// whenever it is outside `KVM_RUN`, so a stop between the request check and `KVM_RUN` stays
    /// pending) must hold when a vCPU is driven by a new thread, including one that glibc gave the
    /// `pthread_t` of an earlier, exited vCPU thread (glibc reuses cached thread stacks, and a
    /// `pthread_t` is the address of its thread's descriptor).
    @Suite struct StopAfterThreadChange {
        /// Moves the (non-Sendable) machine from one thread to the next; only one thread touches it at a
        /// time, and each hand-over is ordered by `pthread_join`.
        final class Handover: @unchecked Sendable {
            var machine: TestMachine?
            var threads: [UInt] = []
            var outcomes: [String] = []
            var kickBlockedAfterRun: [Bool] = []
        }

        static func isKickSignalBlocked() -> Bool {
            var current = sigset_t()
            // SAFETY: queries this thread's mask into a local.
            pthread_sigmask(SIG_BLOCK, nil, &current)
            return sigismember(&current, KickSignal.default.rawValue) == 1
        }

        @Test func kickSignalIsBlockedOnEveryThreadThatRunsTheVCPU() throws {
            let handover = Handover()
            for round in 0 ..< 3 {
                let thread = try HostThread {
                    // A fresh VMM thread: nothing blocked (threads inherit their creator's mask, and the
                    // test runner's thread may itself have run vCPUs).
                    var kick = sigset_t()
                    // SAFETY: local sigset manipulation; unblocks the kick signal in this thread only.
                    sigemptyset(&kick)
                    sigaddset(&kick, KickSignal.default.rawValue)
                    pthread_sigmask(SIG_UNBLOCK, &kick, nil)
                    do {
                        if round == 0 {
                            let machine = try TestMachine(memorySize: 0x1_0000)
                            try machine.load([0xF4, 0xEB, 0xFD], at: 0x1000)  // hlt; jmp hlt
                            handover.machine = machine
                        }
                        guard let machine = handover.machine else { return }
                        try machine.enterRealMode(rip: 0x1000)
                        let exit = try machine.run()
                        handover.outcomes.append("\(exit)")
                    } catch {
                        handover.outcomes.append("error \(error)")
                    }
                    handover.kickBlockedAfterRun.append(Self.isKickSignalBlocked())
                    handover.threads.append(UInt(pthread_self()))
                }
                thread.join()
            }
            handover.machine = nil
            let reused = Set(handover.threads).count < handover.threads.count
            print("threads that ran the vCPU: \(handover.threads.map { "0x" + String($0, radix: 16) }) (pthread_t reused: \(reused))")
            #expect(handover.outcomes == ["halt", "halt", "halt"])
            #expect(handover.kickBlockedAfterRun == [true, true, true], "the kick signal is blocked in every vCPU thread")
        }
    }
}
