// The guest's console, read for the /init protocol (Scripts/test-kernel/README.md): everything before
// `\n@microvm:NONCE:start\n` is the kernel's log (kept, last 64 KiB, for failure reports; echoed to stderr
// with --verbose); the bytes up to `\n@microvm:NONCE:exit:STATUS\n` are the command's output, streamed to
// stdout as they come, holding back only what could be the start of the exit marker; after it, the log
// again. The kernel's panic line is noticed wherever it appears.

import Glibc
import Synchronization

final class GuestConsole: Sendable {
    enum Phase: Equatable { case kernelLog, command, exited(status: Int32) }

    private struct State {
        var phase = Phase.kernelLog
        /// Bytes not yet decided: in the log, since the last line break; in the command's output, a
        /// possible beginning of the exit marker.
        var pending: [UInt8] = []
        var log: [UInt8] = []
        var panicked = false
        /// The output's last line, to find a panic the kernel printed into it.
        var line: [UInt8] = []
        var outputBytes = 0
    }

    static let logLimit = 64 << 10
    private static let panicText = Array("Kernel panic - not syncing".utf8)

    private let startMarker: [UInt8]
    private let exitPrefix: [UInt8]
    private let verbose: Bool
    private let state = Mutex(State())

    init(nonce: String, verbose: Bool) {
        startMarker = Array("\n@microvm:\(nonce):start\n".utf8)
        exitPrefix = Array("\n@microvm:\(nonce):exit:".utf8)
        self.verbose = verbose
    }

    var phase: Phase { state.withLock { $0.phase } }
    var panicked: Bool { state.withLock { $0.panicked } }
    var outputBytes: Int { state.withLock { $0.outputBytes } }
    /// The kernel log kept so far (the last 64 KiB).
    var log: String { state.withLock { String(decoding: $0.log + $0.pending, as: UTF8.self) } }

    /// Bytes the guest wrote to its console (the UART's or virtio-console's output).
    func receive(_ bytes: some Sequence<UInt8>) {
        state.withLock { state in
            for byte in bytes { take(byte, &state) }
        }
    }

    private func take(_ byte: UInt8, _ state: inout State) {
        noticePanic(byte, &state)
        switch state.phase {
        case .kernelLog, .exited:
            state.pending.append(byte)
            if state.phase == .kernelLog, state.pending.count >= startMarker.count, state.pending.suffix(startMarker.count).elementsEqual(startMarker) {
                keepLog(state.pending.dropLast(startMarker.count) + [0x0A], &state)
                state.pending.removeAll()
                state.phase = .command
            } else if byte == 0x0A, !(state.phase == .kernelLog && state.pending.count == 1) {
                // A line ends; the marker starts with a line break, so keep that one pending.
                keepLog(state.pending.dropLast(), &state)
                state.pending = [0x0A]
            } else if state.pending.count > 4096 {
                keepLog(state.pending, &state)
                state.pending.removeAll()
            }
        case .command:
            state.pending.append(byte)
            if state.pending.count <= exitPrefix.count {
                if state.pending.elementsEqual(exitPrefix.prefix(state.pending.count)) { return }
            } else if state.pending.starts(with: exitPrefix) {
                // The status digits, up to the line break.
                let digits = state.pending.dropFirst(exitPrefix.count)
                if byte == 0x0A, let status = Int32(String(decoding: digits.dropLast(), as: UTF8.self)) {
                    state.phase = .exited(status: status)
                    state.pending.removeAll()
                    return
                }
                if digits.count <= 4, (0x30...0x39).contains(byte) { return }
            }
            // Not the marker: write out all but the longest suffix that could still begin it.
            var keep = min(state.pending.count, exitPrefix.count - 1)
            while keep > 0, !state.pending.suffix(keep).elementsEqual(exitPrefix.prefix(keep)) { keep -= 1 }
            emit(state.pending.dropLast(keep), &state)
            state.pending.removeFirst(state.pending.count - keep)
        }
    }

    /// At the end of the run: what is still held back goes where it belongs.
    func flush() {
        state.withLock { state in
            if state.phase == .command { emit(state.pending[...], &state) } else { keepLog(state.pending[...], &state) }
            state.pending.removeAll()
        }
    }

    private func noticePanic(_ byte: UInt8, _ state: inout State) {
        if byte == 0x0A {
            state.line.removeAll(keepingCapacity: true)
            return
        }
        if state.line.count < 256 { state.line.append(byte) }
        if !state.panicked, state.line.count >= Self.panicText.count, state.line.suffix(Self.panicText.count).elementsEqual(Self.panicText) {
            state.panicked = true
        }
    }

    private func keepLog(_ bytes: some Collection<UInt8>, _ state: inout State) {
        if verbose { Self.write(Array(bytes), to: 2) }
        state.log += bytes
        if state.log.count > Self.logLimit { state.log.removeFirst(state.log.count - Self.logLimit) }
    }

    private func emit(_ bytes: some Collection<UInt8>, _ state: inout State) {
        guard !bytes.isEmpty else { return }
        state.outputBytes += bytes.count
        Self.write(Array(bytes), to: 1)
    }

    static func write(_ bytes: [UInt8], to fd: Int32) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}
