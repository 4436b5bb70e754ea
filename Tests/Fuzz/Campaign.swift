import Glibc
import Synchronization

/// One fuzzing campaign: it generates case `iteration` from its own random stream and runs it.
///
/// A case ends in an ``Outcome`` (a short key, counted for the "distinct outcomes" figure) or throws
/// ``Violation`` when the code under test answered something it must not (the runner saves the case
/// and counts it as a failing case). A crash or hang of the code under test kills the process; the
/// driver (`Scripts/fuzz.sh`) sees that and saves the case it was running.
protocol Campaign: AnyObject {
    /// Runs case `iteration`.
    func run(iteration: Int, random: inout FuzzRandom) throws -> String
    /// The case's input as JSON (regenerated from the seed, without running it).
    func describe(iteration: Int, random: inout FuzzRandom) -> String
    /// The campaign's own figures (name, value), printed under the summary.
    func figures() -> [(String, String)]
    /// Called once after the last case of a batch.
    func finish() throws
}

extension Campaign {
    func finish() throws {}
}

/// An answer the code under test must never give.
struct Violation: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Counts of each outcome key, and the figures, written to the results file.
final class Tally: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = Mutex<[String: Int]>([:])

    func add(_ key: String) { lock.withLock { $0[key, default: 0] += 1 } }

    var counts: [String: Int] { lock.withLock { $0 } }
}

/// Writes the iteration being run into a small file before each case, so that a driver that sees the
/// process die knows which case killed it; and watches each case's duration (a case longer than the
/// hang limit ends the process with status 124 after reporting it: a hang).
final class ProgressMarker: Sendable {
    let fileDescriptor: Int32
    private let started = Atomic<UInt64>(0)
    private let current = Atomic<Int>(-1)
    let hangNanoseconds: UInt64

    init(path: String?, hangSeconds: Double) {
        fileDescriptor = path.map { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) } ?? -1
        hangNanoseconds = UInt64(hangSeconds * 1e9)
    }

    func begin(_ iteration: Int) {
        current.store(iteration, ordering: .sequentiallyConsistent)
        started.store(Clock.nanoseconds, ordering: .sequentiallyConsistent)
        guard fileDescriptor >= 0 else { return }
        var text = Array(String(iteration).utf8)
        text += [UInt8](repeating: 0x20, count: max(0, 24 - text.count))
        text.append(0x0A)
        // SAFETY: pwrite reads exactly the array's bytes, which the closure keeps alive.
        _ = text.withUnsafeBytes { pwrite(fileDescriptor, $0.baseAddress, $0.count, 0) }
    }

    func end() { started.store(0, ordering: .sequentiallyConsistent) }

    /// Starts the hang monitor thread (detached; it lives as long as the process).
    func startMonitor() {
        let marker = self
        var thread = pthread_t()
        let box = Unmanaged.passRetained(marker).toOpaque()
        // SAFETY: the marker is retained once here and taken (released) once by the new thread, which
        // keeps it for the life of the process; the start routine has C's signature.
        _ = pthread_create(&thread, nil, { argument in
            let marker = Unmanaged<ProgressMarker>.fromOpaque(argument!).takeRetainedValue()
            marker.monitor()
            return nil
        }, box)
        pthread_detach(thread)
    }

    private func monitor() {
        while true {
            Clock.sleep(microseconds: 100_000)
            let start = started.load(ordering: .sequentiallyConsistent)
            guard start != 0, Clock.nanoseconds > start + hangNanoseconds else { continue }
            let iteration = current.load(ordering: .sequentiallyConsistent)
            let message = "kvm-fuzz: HANG: case \(iteration) has run for more than \(Double(hangNanoseconds) / 1e9) s\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            _exit(124)
        }
    }
}
