// The guest console: COM1 (ports 0x3F8-0x3FF, IRQ 4) backed by the 16550A model, shared by every
// vCPU thread under one lock. Transmitted bytes go to stdout a line at a time; stdin feeds the
// receiver. The console also notices the kernel's last words ("Kernel panic", "reboot: Restarting
// system", "reboot: Power down"), so that a reset or halt can be reported for what it was.

import Glibc
import KVM

final class Console: @unchecked Sendable {
    // @unchecked: all mutable state is guarded by `lock`.
    static let basePort: UInt16 = 0x3F8
    static let irq: UInt32 = 4

    /// What the kernel last said about its own fate.
    enum KernelNotice: Equatable { case panic, restarting, poweringDown, halted }

    private let lock = Lock()
    private var uart = Serial16550A()
    private var lineLevel = false
    private var pendingLine: [UInt8] = []
    private var notices: [KernelNotice] = []
    private let vm: VirtualMachine?
    private let outputFD: Int32
    /// Total bytes the guest wrote to the console.
    private(set) var bytesWritten = 0

    /// - Parameters:
    ///   - vm: whose IRQ 4 the UART drives (nil in tests: no interrupt).
    ///   - outputFD: where the guest's output goes (stdout).
    init(vm: VirtualMachine?, outputFD: Int32 = 1) {
        self.vm = vm
        self.outputFD = outputFD
    }

    static func handles(_ port: UInt16) -> Bool { port >= basePort && port < basePort + 8 }

    func read(port: UInt16) -> UInt8 {
        lock.withLock {
            let value = uart.read(Int(port - Self.basePort))
            updateInterruptLine()
            return value
        }
    }

    func write(port: UInt16, value: UInt8) {
        lock.withLock {
            uart.write(Int(port - Self.basePort), value)
            collectOutput()
            updateInterruptLine()
        }
    }

    /// Host input for the guest.
    func receive(_ bytes: [UInt8]) {
        lock.withLock {
            uart.receive(bytes)
            updateInterruptLine()
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

    private func collectOutput() {
        let bytes = uart.takeOutput()
        guard !bytes.isEmpty else { return }
        bytesWritten += bytes.count
        for byte in bytes {
            pendingLine.append(byte)
            if byte == 0x0A || pendingLine.count >= 1024 {
                scan(pendingLine)
                writeOut(pendingLine)
                pendingLine.removeAll(keepingCapacity: true)
            }
        }
    }

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

    private func updateInterruptLine() {
        let level = uart.interruptLine
        guard level != lineLevel else { return }
        lineLevel = level
        try? vm?.setIRQLine(Self.irq, level: level)
    }
}

/// Reads stdin on its own thread and feeds the console until EOF.
func startConsoleInput(_ console: Console) {
    _ = try? HostThread(name: "console-in") {
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            console.receive(Array(buffer[0..<count]))
        }
    }
}
