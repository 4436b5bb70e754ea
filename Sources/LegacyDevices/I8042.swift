import DeviceBus
import Synchronization

/// An i8042 keyboard controller with no keyboard or mouse behind it: enough for Linux to probe it
/// and, above all, to reset the machine through it.
///
/// It occupies two ports that are not adjacent, the data port (0x60) and the status/command port
/// (0x64), so it is registered through its two views: ``dataPort`` and ``commandPort``:
///
/// ```swift
/// try bus.register(i8042.dataPort, base: I8042.dataPortAddress, size: 1)
/// try bus.register(i8042.commandPort, base: I8042.commandPortAddress, size: 1)
/// ```
///
/// - The reset: command 0xFE ("pulse the reset line", Linux's `reboot=k` and many FADT reset
///   registers), or any pulse command (0xF0-0xFF) with bit 0 clear, or writing the output port
///   (command 0xD1) with bit 0 clear, returns `MachineRequest.reset`.
/// - Status (port 0x64 read): output buffer full (bit 0) while a reply waits, system flag (bit 2)
///   set as after a passed self-test, command/data (bit 3) for the last write; the input buffer is
///   never full, because every write is taken at once.
/// - Commands: read/write the configuration byte (0x20/0x60), self-test (0xAA → 0x55), interface
///   tests (0xAB, 0xA9 → 0x00), disable/enable the keyboard and aux ports (0xAD/0xAE, 0xA7/0xA8),
///   read/write the output port (0xD0/0xD1). Bytes written to the data port for the keyboard get no
///   reply (no keyboard is attached), so a driver times out on them and moves on.
///
/// It raises no interrupt: replies are only polled (as Linux does while probing).
public final class I8042: Sendable {
    public static let dataPortAddress: UInt64 = 0x60
    public static let commandPortAddress: UInt64 = 0x64
    /// "Pulse the reset line".
    public static let resetCommand: UInt8 = 0xFE

    private struct State {
        var output: [UInt8] = []
        var configuration: UInt8 = 0x45  // keyboard interrupt, system flag, translation; aux disabled
        var outputPort: UInt8 = 0x01     // bit 0: not in reset
        var lastWriteWasCommand = false
        var pendingCommand: UInt8?       // a command waiting for its data byte (0x60, 0xD1)
    }

    private let state = Mutex(State())

    public init() {}

    /// The data port (0x60) as a bus device.
    public var dataPort: some BusDevice { Port(controller: self, isCommand: false) }
    /// The status/command port (0x64) as a bus device.
    public var commandPort: some BusDevice { Port(controller: self, isCommand: true) }

    /// A read of the data port: the oldest waiting reply, or 0 when none waits.
    public func readData() -> UInt8 {
        state.withLock { $0.output.isEmpty ? 0 : $0.output.removeFirst() }
    }

    /// A read of the status register.
    public func readStatus() -> UInt8 {
        state.withLock { state in
            var status: UInt8 = 0x04  // system flag
            if !state.output.isEmpty { status |= 0x01 }
            if state.lastWriteWasCommand { status |= 0x08 }
            return status
        }
    }

    /// A write to the data port: the data byte of a pending command, or a byte for the (absent) keyboard.
    public func writeData(_ value: UInt8) -> MachineRequest? {
        state.withLock { state in
            state.lastWriteWasCommand = false
            defer { state.pendingCommand = nil }
            switch state.pendingCommand {
            case 0x60: state.configuration = value
            case 0xD1:
                state.outputPort = value
                if value & 0x01 == 0 { return .reset }
            default: break  // no keyboard: no reply
            }
            return nil
        }
    }

    /// A write to the command register.
    public func writeCommand(_ command: UInt8) -> MachineRequest? {
        state.withLock { state in
            state.lastWriteWasCommand = true
            state.pendingCommand = nil
            switch command {
            case 0x20: state.output.append(state.configuration)
            case 0x60, 0xD1: state.pendingCommand = command
            case 0xA7: state.configuration |= 0x20   // disable aux: its clock line off
            case 0xA8: state.configuration &= ~0x20
            case 0xA9, 0xAB: state.output.append(0x00)  // interface test passed
            case 0xAA:
                state.output.append(0x55)  // self-test passed
                state.configuration |= 0x04
            case 0xAD: state.configuration |= 0x10   // disable keyboard: its clock line off
            case 0xAE: state.configuration &= ~0x10
            case 0xD0: state.output.append(state.outputPort)
            case 0xF0...0xFF where command & 0x01 == 0:
                return .reset  // pulse output line 0: the CPU's reset
            default: break
            }
            if state.output.count > 16 { state.output.removeFirst(state.output.count - 16) }
            return nil
        }
    }

    private struct Port: BusDevice {
        let controller: I8042
        let isCommand: Bool

        func read(at offset: UInt64, size: Int) -> UInt64 {
            UInt64(isCommand ? controller.readStatus() : controller.readData())
        }

        func write(at offset: UInt64, size: Int, value: UInt64) -> MachineRequest? {
            let byte = UInt8(truncatingIfNeeded: value)
            return isCommand ? controller.writeCommand(byte) : controller.writeData(byte)
        }
    }
}
