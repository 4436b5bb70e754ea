import DeviceBus
import Synchronization

/// A 16550A UART (a PC COM port) as Linux's 8250 driver probes and drives it: eight byte-wide
/// registers, interrupt-driven, thread-safe.
///
/// Register it on the port I/O bus at its base (COM1: 0x3F8, IRQ 4; COM2: 0x2F8, IRQ 3) with
/// ``size`` ports. The UART sends each transmitted byte to the `output` closure and drives its
/// interrupt output through an ``InterruptLine``; the VMM feeds input (e.g. from stdin, on a thread of
/// its own) with ``receive(_:)``. Every method may be called from any thread at once: one lock guards
/// the state, and the callbacks run under it, so bytes and interrupt levels arrive in order.
///
/// Registers (DLAB = bit 7 of LCR):
///
/// | offset | read                            | write                           |
/// | ------ | ------------------------------- | ------------------------------- |
/// | 0      | RBR: received byte (DLAB: DLL)  | THR: byte to send (DLAB: DLL)   |
/// | 1      | IER (DLAB: DLM)                 | IER (DLAB: DLM)                 |
/// | 2      | IIR: pending interrupt          | FCR: FIFO control               |
/// | 3      | LCR: line control               | LCR                             |
/// | 4      | MCR: modem control              | MCR                             |
/// | 5      | LSR: line status                | (ignored)                       |
/// | 6      | MSR: modem status               | (ignored)                       |
/// | 7      | SCR: scratch                    | SCR                             |
///
/// Interrupts, highest priority first: receiver line status (overrun), received data (or, with the
/// FIFO on and fewer bytes than the trigger level, character timeout), THR empty, modem status. The
/// output follows PC wiring: it is asserted only while MCR.OUT2 is set. Loopback (MCR bit 4) wires
/// THR to RBR and the modem outputs to the modem inputs, which the 8250 driver's autoconfiguration checks.
///
/// Simplifications: transmission is instant, so THR and the transmitter are always empty by the time
/// the guest looks, and there are no transmit FIFO, baud rate or character timing (the divisor, word
/// length, parity and stop bits are stored and read back). Input the receive FIFO (16 bytes, 1 with
/// the FIFO off) has no room for is not taken: ``receive(_:)`` says how much it took, so the host side
/// never causes an overrun; loopback can.
public final class Serial16550A: BusDevice {
    /// Ports the UART occupies.
    public static let size: UInt64 = 8
    /// The receive FIFO's depth.
    public static let fifoDepth = 16

    /// The modem-status inputs, driven by the other end of the line (MSR bits 4-7).
    public struct ModemInputs: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue & 0xF0 }
        public static let clearToSend = ModemInputs(rawValue: 0x10)
        public static let dataSetReady = ModemInputs(rawValue: 0x20)
        public static let ringIndicator = ModemInputs(rawValue: 0x40)
        public static let carrierDetect = ModemInputs(rawValue: 0x80)
    }

    /// Register offsets from the base port.
    public enum Register {
        public static let data = 0, interruptEnable = 1, interruptIdentification = 2, fifoControl = 2
        public static let lineControl = 3, modemControl = 4, lineStatus = 5, modemStatus = 6, scratch = 7
    }

    private struct State {
        var divisor: UInt16 = 12               // 9600 baud
        var interruptEnable: UInt8 = 0         // IER bits 0-3
        var lineControl: UInt8 = 0x03          // 8N1
        var modemControl: UInt8 = 0            // MCR bits 0-4
        var scratch: UInt8 = 0
        var fifoEnabled = false
        var triggerLevel = 1
        var received: [UInt8] = []             // the receive FIFO (or, with FIFOs off, the RBR)
        var overrun = false                    // LSR.OE, until LSR is read
        var transmitterEmptyInterrupt = false  // THRE pending, until IIR reports it or THR is written
        var modemInputs: ModemInputs
        var modemDeltas: UInt8 = 0             // MSR bits 0-3, until MSR is read
        var interruptLevel = false             // what the line was last told
        var lastReceivedByte: UInt8 = 0

        var isLoopback: Bool { modemControl & 0x10 != 0 }
        var divisorLatchAccess: Bool { lineControl & 0x80 != 0 }
        var capacity: Int { fifoEnabled ? Serial16550A.fifoDepth : 1 }

        /// MSR bits 4-7: the inputs, or in loopback the MCR outputs wired back
        /// (RTS → CTS, DTR → DSR, OUT1 → RI, OUT2 → DCD).
        var modemLines: UInt8 {
            guard isLoopback else { return modemInputs.rawValue }
            let mcr = modemControl
            return (mcr & 0x02) << 3 | (mcr & 0x01) << 5 | (mcr & 0x04) << 4 | (mcr & 0x08) << 4
        }

        /// The highest-priority pending interrupt's IIR identification (bits 0-3), or nil.
        var pendingInterrupt: UInt8? {
            if interruptEnable & 0x04 != 0 && overrun { return 0x06 }
            if interruptEnable & 0x01 != 0 && !received.isEmpty {
                return fifoEnabled && received.count < triggerLevel ? 0x0C : 0x04
            }
            if interruptEnable & 0x02 != 0 && transmitterEmptyInterrupt { return 0x02 }
            if interruptEnable & 0x08 != 0 && modemDeltas != 0 { return 0x00 }
            return nil
        }

        mutating func noteModemLines(from old: UInt8) {
            let new = modemLines
            modemDeltas |= ((old ^ new) >> 4) & 0x0B                        // ΔCTS, ΔDSR, ΔDCD
            if old & 0x40 != 0 && new & 0x40 == 0 { modemDeltas |= 0x04 }   // trailing edge of RI
        }
    }

    private let state: Mutex<State>
    private let output: @Sendable (UInt8) -> Void
    private let interrupt: InterruptLine

    /// - Parameters:
    ///   - interrupt: the UART's interrupt output (e.g. IRQ 4 for COM1).
    ///   - modemInputs: the other end's lines at power-on (default: connected, carrier present).
    ///   - output: called with each byte the guest transmits (not in loopback), under the UART's lock:
    ///     it must not call back into the UART.
    public init(
        interrupt: InterruptLine = .disconnected,
        modemInputs: ModemInputs = [.clearToSend, .dataSetReady, .carrierDetect],
        output: @escaping @Sendable (UInt8) -> Void
    ) {
        state = Mutex(State(modemInputs: modemInputs))
        self.output = output
        self.interrupt = interrupt
    }

    // MARK: The guest's side

    /// A guest read of register `offset` (0-7).
    public func read(register offset: Int) -> UInt8 {
        state.withLock { state in
            defer { updateInterrupt(&state) }
            switch offset {
            case Register.data:
                if state.divisorLatchAccess { return UInt8(truncatingIfNeeded: state.divisor) }
                if !state.received.isEmpty { state.lastReceivedByte = state.received.removeFirst() }
                return state.lastReceivedByte
            case Register.interruptEnable:
                return state.divisorLatchAccess ? UInt8(truncatingIfNeeded: state.divisor >> 8) : state.interruptEnable
            case Register.interruptIdentification:
                let fifoBits: UInt8 = state.fifoEnabled ? 0xC0 : 0
                guard let pending = state.pendingInterrupt else { return fifoBits | 0x01 }
                if pending == 0x02 { state.transmitterEmptyInterrupt = false }  // reading IIR acknowledges THRE
                return fifoBits | pending
            case Register.lineControl:
                return state.lineControl
            case Register.modemControl:
                return state.modemControl
            case Register.lineStatus:
                var status: UInt8 = 0x60                          // THRE | TEMT: always empty
                if !state.received.isEmpty { status |= 0x01 }     // DR
                if state.overrun { status |= 0x02 }               // OE, cleared by this read
                state.overrun = false
                return status
            case Register.modemStatus:
                let status = state.modemLines | state.modemDeltas
                state.modemDeltas = 0
                return status
            case Register.scratch:
                return state.scratch
            default:
                return 0xFF
            }
        }
    }

    /// A guest write of `value` to register `offset` (0-7).
    public func write(register offset: Int, _ value: UInt8) {
        state.withLock { state in
            defer { updateInterrupt(&state) }
            switch offset {
            case Register.data:
                if state.divisorLatchAccess {
                    state.divisor = state.divisor & 0xFF00 | UInt16(value)
                    return
                }
                if state.isLoopback {
                    if state.received.count < state.capacity { state.received.append(value) } else { state.overrun = true }
                } else {
                    output(value)
                }
                state.transmitterEmptyInterrupt = true  // sent at once: THR is empty again
            case Register.interruptEnable:
                if state.divisorLatchAccess {
                    state.divisor = state.divisor & 0x00FF | UInt16(value) << 8
                } else {
                    // Enabling the THRE interrupt while THR is empty (always, here) raises it.
                    if value & 0x02 != 0 && state.interruptEnable & 0x02 == 0 { state.transmitterEmptyInterrupt = true }
                    state.interruptEnable = value & 0x0F
                }
            case Register.fifoControl:
                let enable = value & 0x01 != 0
                if enable != state.fifoEnabled || value & 0x02 != 0 { state.received.removeAll() }
                state.fifoEnabled = enable
                state.triggerLevel = [1, 4, 8, 14][Int(value >> 6)]
            case Register.lineControl:
                state.lineControl = value
            case Register.modemControl:
                let old = state.modemLines
                state.modemControl = value & 0x1F
                state.noteModemLines(from: old)
            case Register.scratch:
                state.scratch = value
            default:
                break  // LSR and MSR are read-only
            }
        }
    }

    /// A bus read: each byte of a wider access reads the next register, as an ISA bus splits it.
    public func read(at offset: UInt64, size: Int) -> UInt64 {
        var value: UInt64 = 0
        for byte in 0..<size { value |= UInt64(read(register: Int(offset) + byte)) << (8 * UInt64(byte)) }
        return value
    }

    /// A bus write: each byte of a wider access writes the next register.
    public func write(at offset: UInt64, size: Int, value: UInt64) -> MachineRequest? {
        for byte in 0..<size { write(register: Int(offset) + byte, UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte)))) }
        return nil
    }

    // MARK: The other end of the line

    /// Input from the other end: queues as many of `bytes` as the receive FIFO has room for (16 with
    /// the FIFO on, 1 with it off, none in loopback) and returns how many it took.
    @discardableResult
    public func receive(_ bytes: some Collection<UInt8>) -> Int {
        state.withLock { state in
            guard !state.isLoopback else { return 0 }
            let taken = min(bytes.count, state.capacity - state.received.count)
            guard taken > 0 else { return 0 }
            state.received.append(contentsOf: bytes.prefix(taken))
            updateInterrupt(&state)
            return taken
        }
    }

    /// Whether the guest wants input now: it sets MCR.RTS (with hardware flow control the other end
    /// sends only while it is set) and the receive FIFO has room.
    public var isReadyToReceive: Bool {
        state.withLock { state in
            state.modemControl & 0x02 != 0 && !state.isLoopback && state.received.count < state.capacity
        }
    }

    /// Whether the receive FIFO has room (whatever the modem lines say).
    public var hasRoom: Bool {
        state.withLock { state in !state.isLoopback && state.received.count < state.capacity }
    }

    /// Sets the modem-status inputs, e.g. drops carrier detect when the other end hangs up.
    public func setModemInputs(_ inputs: ModemInputs) {
        state.withLock { state in
            let old = state.modemLines
            state.modemInputs = inputs
            state.noteModemLines(from: old)
            updateInterrupt(&state)
        }
    }

    /// The interrupt output's current level.
    public var interruptLevel: Bool { state.withLock { $0.interruptLevel } }

    private func updateInterrupt(_ state: inout State) {
        let level = state.pendingInterrupt != nil && state.modemControl & 0x08 != 0  // OUT2 gates it
        guard level != state.interruptLevel else { return }
        state.interruptLevel = level
        interrupt.set(level)
    }
}
