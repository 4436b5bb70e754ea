// The host side of a UART's receiver: bytes read from a file descriptor (a VMM's stdin, a pty, a
// socket) handed to the 16550A as fast as the guest drains its receive FIFO.

import Glibc

extension Serial16550A {
    /// Reads `descriptor` and feeds what it reads to the receiver until the descriptor ends (and every
    /// byte read was taken) or `running()` turns false. Blocks the calling thread (run it on a thread
    /// of its own, e.g. a `HostThread`); polls every 50 ms, so it stops soon after `running()` does,
    /// and waits for the guest to take bytes rather than dropping them.
    public func pumpInput(from descriptor: Int32, while running: () -> Bool = { true }) {
        var pending: [UInt8] = []
        var ended = false
        var buffer = [UInt8](repeating: 0, count: 256)
        while running() {
            if !pending.isEmpty {
                if isReadyToReceive { pending.removeFirst(receive(pending)) }
                if !pending.isEmpty {
                    usleep(1000)  // the guest has not taken the last bytes yet
                    continue
                }
            }
            if ended { return }
            var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&request, 1, 50) > 0 else { continue }
            // SAFETY: read(2) writes at most `buffer.count` bytes into the live array's storage.
            let count = unsafe buffer.withUnsafeMutableBytes { unsafe Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                pending += buffer[0..<count]
            } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                ended = true
            }
        }
    }
}
