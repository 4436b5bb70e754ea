import DeviceBus
import Synchronization

/// A small MMIO device: vCPUs post values to it, and report that they are done.
///
/// | offset | read                              | write                                    |
/// | ------ | --------------------------------- | ---------------------------------------- |
/// | 0      | COUNT: values posted so far       | POST: append a value                     |
/// | 4      | 0                                 | DONE: the writing vCPU is finished, with a result |
///
/// Thread-safe: every vCPU thread may access it at once. DONE needs to know which vCPU wrote, and a
/// bus device sees only the access, so each vCPU's bus holds its own view (`view(for:)`) of the one
/// mailbox: the bus is a value, and each vCPU thread gets its own copy.
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

    /// Whether vCPU `vcpu` has written DONE.
    func isDone(_ vcpu: UInt) -> Bool { state.withLock { $0.results[vcpu] != nil } }

    /// The mailbox as vCPU `vcpu`'s bus sees it.
    func view(for vcpu: UInt) -> some BusDevice { View(mailbox: self, vcpu: vcpu) }

    private struct View: BusDevice {
        let mailbox: Mailbox
        let vcpu: UInt

        func read(at offset: UInt64, size: Int) -> UInt64 { mailbox.read(offset: offset) }

        func write(at offset: UInt64, size: Int, value: UInt64) -> MachineRequest? {
            _ = mailbox.write(offset: offset, value, from: vcpu)
            return nil
        }
    }

    /// What each vCPU reported to DONE.
    var results: [UInt: UInt64] { state.withLock { $0.results } }
}
