import Synchronization

/// A small MMIO device: vCPUs post values to it, and report that they are done.
///
/// | offset | read                              | write                                    |
/// | ------ | --------------------------------- | ---------------------------------------- |
/// | 0      | COUNT: values posted so far       | POST: append a value                     |
/// | 4      | 0                                 | DONE: the writing vCPU is finished, with a result |
///
/// Thread-safe: every vCPU thread may access it at once.
final class Mailbox: Sendable {
    static let size: UInt64 = 8

    enum Register {
        static let post: UInt64 = 0, count: UInt64 = 0, done: UInt64 = 4
    }

    private struct State {
        var posted: [UInt64] = []
        var results: [UInt: UInt64] = [:]
    }

    private let state = Mutex(State())

    /// A read of register `offset`.
    func read(offset: UInt64) -> UInt64 {
        state.withLock { offset == Register.count ? UInt64($0.posted.count) : 0 }
    }

    /// A write by vCPU `vcpu` of `value` to register `offset`. Returns true for DONE: that vCPU is finished.
    func write(offset: UInt64, _ value: UInt64, from vcpu: UInt) -> Bool {
        state.withLock { state in
            switch offset {
            case Register.post:
                state.posted.append(value)
                return false
            case Register.done:
                state.results[vcpu] = value
                return true
            default:
                return false
            }
        }
    }

    var posted: [UInt64] { state.withLock { $0.posted } }

    /// What each vCPU reported to DONE.
    var results: [UInt: UInt64] { state.withLock { $0.results } }
}
