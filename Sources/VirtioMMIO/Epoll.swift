import CVirtioShims
import Glibc
import SystemPackage

/// An owned epoll instance: the device worker's wait set (thin typed layer over epoll(7)). Its only state
/// is the descriptor, and the kernel serialises epoll operations, so it may be shared between threads.
final class Epoll: Sendable {
    let descriptor: Int32

    init() throws(VirtioDeviceError) {
        let descriptor = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard descriptor >= 0 else { throw .system(operation: "epoll_create1", errno: Errno(rawValue: errno)) }
        self.descriptor = descriptor
    }

    deinit { _ = close(descriptor) }

    /// Watches `fd` for `events` (EPOLLIN...), reporting `token`.
    func add(_ fd: Int32, events: UInt32, token: UInt64) throws(VirtioDeviceError) {
        try control(EPOLL_CTL_ADD, fd, events: events, token: token, name: "epoll_ctl(ADD)")
    }

    /// Changes what `fd` is watched for (0: nothing for now).
    func modify(_ fd: Int32, events: UInt32, token: UInt64) throws(VirtioDeviceError) {
        try control(EPOLL_CTL_MOD, fd, events: events, token: token, name: "epoll_ctl(MOD)")
    }

    func remove(_ fd: Int32) {
        var event = epoll_event()
        // SAFETY: `event` is a valid epoll_event on the stack (ignored by EPOLL_CTL_DEL since Linux 2.6.9).
        _ = unsafe epoll_ctl(descriptor, EPOLL_CTL_DEL, fd, &event)
    }

    private func control(_ operation: Int32, _ fd: Int32, events: UInt32, token: UInt64, name: String) throws(VirtioDeviceError) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = token
        // SAFETY: `event` is a valid epoll_event on the stack for the duration of the call.
        guard unsafe epoll_ctl(descriptor, operation, fd, &event) == 0 else {
            throw .system(operation: name, errno: Errno(rawValue: errno))
        }
    }

    /// Waits for events (retrying on EINTR); returns the tokens of the ready descriptors.
    func wait(maximum: Int = 16) -> [UInt64] {
        var events = [epoll_event](repeating: epoll_event(), count: maximum)
        while true {
            // SAFETY: `events` has room for `maximum` entries, the count passed.
            let count = unsafe events.withUnsafeMutableBufferPointer { buffer in
                unsafe epoll_wait(descriptor, buffer.baseAddress, Int32(maximum), -1)
            }
            if count >= 0 { return events[0 ..< Int(count)].map { $0.data.u64 } }
            if errno != EINTR { return [] }
        }
    }
}
