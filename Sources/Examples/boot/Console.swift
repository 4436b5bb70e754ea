// The guest console's host side: what COM1 (LegacyDevices' 16550A) transmits goes to stdout a line at
// a time, and stdin feeds its receiver. The console also notices the kernel's last words ("Kernel
// panic", "reboot: Restarting system", "reboot: Power down"), so that a reset or halt can be reported
// for what it was.

import Glibc
import KVM
import LegacyDevices

final class Console: @unchecked Sendable {
    // @unchecked: all mutable state is guarded by `lock`.

    /// What the kernel last said about its own fate.
    enum KernelNotice: Equatable { case panic, restarting, poweringDown, halted }

    private let lock = ConditionLock()
    private var pendingLine: [UInt8] = []
    private var notices: [KernelNotice] = []
    private let outputFD: Int32
    /// Total bytes the guest wrote to the console.
    private(set) var bytesWritten = 0

    /// - Parameter outputFD: where the guest's output goes (stdout).
    init(outputFD: Int32 = 1) {
        self.outputFD = outputFD
    }

    /// A byte the UART transmitted (the UART's `output`).
    func transmit(_ byte: UInt8) {
        lock.withLock {
            bytesWritten += 1
            pendingLine.append(byte)
            if byte == 0x0A || pendingLine.count >= 1024 {
                scan(pendingLine)
                writeOut(pendingLine)
                pendingLine.removeAll(keepingCapacity: true)
            }
        }
    }

    /// The notices seen so far, oldest first.
    var kernelNotices: [KernelNotice] { lock.withLock { notices } }

    /// Writes any partial line (at exit).
    func flush() {
        lock.withLock {
            writeOut(pendingLine)
            pendingLine.removeAll()
        }
    }

    // MARK: Under the lock

    private func scan(_ line: [UInt8]) {
        let text = String(decoding: line, as: UTF8.self)
        if text.contains("Kernel panic - not syncing") { notices.append(.panic) }
        if text.contains("reboot: Restarting system") { notices.append(.restarting) }
        if text.contains("reboot: Power down") { notices.append(.poweringDown) }
        if text.contains("reboot: System halted") { notices.append(.halted) }
    }

    private func writeOut(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(outputFD, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}

/// Feeds stdin to `uart` on its own thread until stdin ends (LegacyDevices' `pumpInput`).
func startConsoleInput(_ uart: Serial16550A) {
    _ = try? HostThread(name: "console-in") { uart.pumpInput(from: 0) }
}
