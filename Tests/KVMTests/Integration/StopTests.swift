import Glibc
import KVM
import X86Assembler
import KVMBindings
import Synchronization
import Testing

extension IntegrationTests {
    /// Scenario 6b: a vCPU spinning at CPL3 (`inc rax; jmp` in ring 3, native on PVM, so it never
    /// exits on its own) is stopped from another thread with `stopper.stop()`, both when stop() comes
    /// before run() and while run() is in the guest; 20 rounds, each stop within 1 s.
    @Suite struct StopFromAnotherThread {
        static let codeAddress: UInt64 = 0x9000
        static let rounds = 20
        static let bound = 1.0

        /// What the vCPU thread reports for one run.
        struct RunReport: Sendable {
            var exit: String
            var stopped: Bool
            var returnedAt: Double
            var rax: UInt64
            var rip: UInt64
            var cpl: UInt16
        }

        /// The two threads' shared state: commands one way, reports the other.
        final class Channel: Sendable {
            /// The round the vCPU thread should run next, per phase: 2 * round (stop before run) and
            /// 2 * round + 1 (stop during run). -1 until the main thread says go.
            let command = Atomic<Int>(-1)
            /// The phase the vCPU thread is about to run (set just before run()).
            let entering = Atomic<Int>(-1)
            let stopper = Mutex<VCPUStopper?>(nil)
            let reports = Mutex<[Int: RunReport]>([:])
            let failure = Mutex<String?>(nil)

            func waitFor(_ condition: () -> Bool, seconds: Double = 5) -> Bool {
                let deadline = MonotonicClock.now + seconds
                while !condition() {
                    if MonotonicClock.now > deadline || failure.withLock({ $0 }) != nil { return false }
                    usleep(50)
                }
                return true
            }
        }

        @Test func stopBeforeAndDuringRunAtCPL3() throws {
            var code = LongModeCode(origin: Self.codeAddress)
            let loop = code.here()
            code.inc(.rax)
            code.jmp(loop)
            let bytes = try code.assemble()
            let channel = Channel()

            let vcpuThread = try HostThread {
                do {
                    let machine = try TestMachine(timeoutSeconds: 15)
                    try machine.load(bytes, at: Self.codeAddress)
                    try machine.enterLongMode(rip: Self.codeAddress, rsp: 0xB000, user: true)
                    channel.stopper.withLock { $0 = machine.vcpu.stopper }
                    for phase in 0 ..< 2 * Self.rounds {
                        guard channel.waitFor({ channel.command.load(ordering: .sequentiallyConsistent) >= phase }, seconds: 10)
                        else { throw GuestFailure("no command for phase \(phase)") }
                        channel.entering.store(phase, ordering: .sequentiallyConsistent)
                        let exit = try machine.vcpu.run()
                        let returnedAt = MonotonicClock.now
                        let registers = try machine.vcpu.registers()
                        let cs = try machine.vcpu.specialRegisters().cs
                        var stopped = false
                        if case .stopped = exit { stopped = true }
                        channel.reports.withLock {
                            $0[phase] = RunReport(
                                exit: "\(exit)", stopped: stopped, returnedAt: returnedAt, rax: registers.rax,
                                rip: registers.rip, cpl: cs.selector & 3)
                        }
                    }
                } catch {
                    channel.failure.withLock { $0 = "vCPU thread: \(error)" }
                }
            }
            defer { vcpuThread.join() }

            guard channel.waitFor({ channel.stopper.withLock { $0 } != nil }) else {
                Issue.record("the vCPU thread did not start: \(channel.failure.withLock { $0 } ?? "timeout")")
                return
            }
            let stopper = channel.stopper.withLock { $0! }
            var latencies: [Double] = []
            for round in 0 ..< Self.rounds {
                // Stop before run: the request is pending when run() starts.
                stopper.stop()
                channel.command.store(2 * round, ordering: .sequentiallyConsistent)
                guard channel.waitFor({ channel.reports.withLock { $0[2 * round] } != nil }) else {
                    Issue.record("round \(round): run() after stop() did not return: \(channel.failure.withLock { $0 } ?? "timeout")")
                    break
                }
                // Stop during run: wait until the thread is in run(), let the guest spin, then stop.
                channel.command.store(2 * round + 1, ordering: .sequentiallyConsistent)
                guard channel.waitFor({ channel.entering.load(ordering: .sequentiallyConsistent) == 2 * round + 1 }) else {
                    Issue.record("round \(round): the vCPU thread did not enter run()")
                    break
                }
                sleep(milliseconds: 5)
                let stoppedAt = MonotonicClock.now
                stopper.stop()
                let returned = channel.waitFor({ channel.reports.withLock { $0[2 * round + 1] } != nil }, seconds: Self.bound)
                if !returned {
                    Issue.record("round \(round): run() did not return within \(Self.bound) s of stop()")
                    // Keep asking, so the thread can finish and be joined.
                    while !channel.waitFor({ channel.reports.withLock { $0[2 * round + 1] } != nil }, seconds: 0.1) {
                        stopper.stop()
                    }
                }
                if let report = channel.reports.withLock({ $0[2 * round + 1] }) {
                    latencies.append(report.returnedAt - stoppedAt)
                }
            }
            vcpuThread.join()
            if let failure = channel.failure.withLock({ $0 }) { Issue.record("\(failure)") }

            let reports = channel.reports.withLock { $0 }
            #expect(reports.count == 2 * Self.rounds)
            var previousRAX: UInt64 = 0
            for phase in 0 ..< 2 * Self.rounds {
                guard let report = reports[phase] else { continue }
                #expect(report.stopped, "phase \(phase): run() returned \(report.exit)")
                #expect(report.cpl == 3, "phase \(phase): the vCPU was at CPL3")
                #expect(report.rip >= Self.codeAddress && report.rip < Self.codeAddress + UInt64(bytes.count))
                if phase % 2 == 0 {
                    #expect(report.rax == previousRAX, "phase \(phase): stop() before run(): the guest did not run")
                } else {
                    #expect(report.rax > previousRAX, "phase \(phase): the guest ran (its counter advanced) until stopped")
                }
                previousRAX = report.rax
            }
            let sorted = latencies.sorted()
            #expect(sorted.count == Self.rounds)
            #expect((sorted.last ?? .infinity) < Self.bound)
            if !sorted.isEmpty {
                let micro = { (seconds: Double) in Int((seconds * 1e6).rounded()) }
                print(
                    "stop latency during run over \(sorted.count) rounds: min \(micro(sorted.first!)) µs, "
                        + "median \(micro(sorted[sorted.count / 2])) µs, max \(micro(sorted.last!)) µs; "
                        + "guest counter reached \(previousRAX)")
            }
        }
    }
}
