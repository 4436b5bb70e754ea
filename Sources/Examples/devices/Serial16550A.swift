import Synchronization

/// A 16550A UART (the PC's COM port), as the guest sees it through eight I/O ports.
///
/// Reusable on its own: it knows nothing of KVM, ports or threads. The VMM forwards the guest's port
/// accesses (`read(offset:)`, `write(offset:_:)`, with `offset` = port - base, e.g. base 0x3F8 for
/// COM1), feeds input with `receive(_:)`, and sets the modem-status inputs with `setModemInputs(_:)`.
/// The UART calls back with every byte it transmits and whenever its interrupt output changes level.
/// All methods are thread-safe (one lock): any vCPU thread and an input thread may call them at once.
///
/// Registers (DLAB = bit 7 of LCR):
///
/// | offset | read                          | write                         |
/// | ------ | ----------------------------- | ----------------------------- |
/// | 0      | RBR: received byte (DLAB: DLL)| THR: byte to send (DLAB: DLL) |
/// | 1      | IER (DLAB: DLM)               | IER (DLAB: DLM)               |
/// | 2      | IIR: pending interrupt        | FCR: FIFO control             |
/// | 3      | LCR: line control             | LCR                           |
/// | 4      | MCR: modem control            | MCR                           |
/// | 5      | LSR: line status              | (ignored)                     |
/// | 6      | MSR: modem status             | (ignored)                     |
/// | 7      | SCR: scratch                  | SCR                           |
///
/// Simplifications: transmission is instant (THR and the transmitter are always empty again by the
/// time the guest looks), so there are no transmit FIFO, baud rate or character timing; the divisor,
/// word length, parity and stop bits are stored and read back but change nothing. Received data
/// raises its interrupt at once (as the "character timeout" interrupt when the FIFO holds fewer bytes
/// than the trigger level). Input the receive buffer has no room for is not taken (`receive` says how
/// much it took), so the host side never causes an overrun; loopback can.
///
/// The interrupt output follows PC wiring: it is active only while MCR.OUT2 is set.
final class Serial16550A: Sendable {
    /// The modem-status inputs, driven by the other end of the line (MSR bits 4-7).
    struct ModemInputs: OptionSet, Sendable {
        let rawValue: UInt8
        static let clearToSend = ModemInputs(rawValue: 0x10)
        static let dataSetReady = ModemInputs(rawValue: 0x20)
        static let ringIndicator = ModemInputs(rawValue: 0x40)
        static let carrierDetect = ModemInputs(rawValue: 0x80)
    }

    /// Register offsets.
    enum Register {
        static let data: UInt16 = 0, interruptEnable: UInt16 = 1, interruptIdentification: UInt16 = 2
        static let fifoControl: UInt16 = 2, lineControl: UInt16 = 3, modemControl: UInt16 = 4
        static let lineStatus: UInt16 = 5, modemStatus: UInt16 = 6, scratch: UInt16 = 7
    }

    private struct State {
        var divisor: UInt16 = 12              // 9600 baud
        var interruptEnable: UInt8 = 0        // IER bits 0-3
        var lineControl: UInt8 = 0x03         // 8N1
        var modemControl: UInt8 = 0           // MCR bits 0-4
        var scratch: UInt8 = 0
        var fifoEnabled = false
        var triggerLevel = 1
        var received: [UInt8] = []            // the receive FIFO (or, with FIFOs off, the RBR)
        var overrun = false                   // LSR.OE, until LSR is read
        var transmitterEmptyInterrupt = false // THRE interrupt pending, until IIR reports it or THR is written
        var modemInputs: ModemInputs          // from the other end
        var modemDeltas: UInt8 = 0            // MSR bits 0-3, until MSR is read
        var interruptLevel = false            // what the interrupt callback was last told
        var lastReceivedByte: UInt8 = 0

        var isLoopback: Bool { modemControl & 0x10 != 0 }
        var divisorLatchAccess: Bool { lineControl & 0x80 != 0 }
        var capacity: Int { fifoEnabled ? 16 : 1 }

        /// MSR bits 4-7: the inputs, or in loopback the MCR outputs wired back to them
        /// (RTS → CTS, DTR → DSR, OUT1 → RI, OUT2 → DCD).
        var modemLines: UInt8 {
            guard isLoopback else { return modemInputs.rawValue }
            let mcr = modemControl
            return (mcr & 0x02) << 3 | (mcr & 0x01) << 5 | (mcr & 0x04) << 4 | (mcr & 0x08) << 4
        }

        /// The highest-priority pending interrupt's IIR identification (bits 1-3), or nil.
        var pendingInterrupt: UInt8? {
            if interruptEnable & 0x04 != 0 && overrun { return 0x06 }                  // receiver line status
            if interruptEnable & 0x01 != 0 && !received.isEmpty {                      // received data
                return fifoEnabled && received.count < triggerLevel ? 0x0C : 0x04     // (timeout) / available
            }
            if interruptEnable & 0x02 != 0 && transmitterEmptyInterrupt { return 0x02 } // THR empty
            if interruptEnable & 0x08 != 0 && modemDeltas != 0 { return 0x00 }         // modem status
            return nil
        }

        /// Updates MSR's change bits for new line levels.
        mutating func noteModemLines(from old: UInt8) {
            let new = modemLines
            modemDeltas |= ((old ^ new) >> 4) & 0x0B                                   // ΔCTS, ΔDSR, ΔDCD
            if old & 0x40 != 0 && new & 0x40 == 0 { modemDeltas |= 0x04 }              // trailing edge of RI
        }
    }

    private let state: Mutex<State>
    private let transmit: @Sendable (UInt8) -> Void
    private let setInterrupt: @Sendable (Bool) -> Void

    /// - Parameters:
    ///   - modemInputs: the other end's lines at power-on (default: connected, carrier present).
    ///   - transmit: called with each byte the guest sends (not in loopback mode).
    ///   - setInterrupt: called with the new level of the interrupt output whenever it changes; wire it
    ///     to an interrupt line (e.g. IRQ 4 for COM1).
    ///
    /// Both callbacks run while the UART's lock is held (that keeps bytes and levels in order across
    /// threads): they must not call back into the UART.
    init(
        modemInputs: ModemInputs = [.clearToSend, .dataSetReady, .carrierDetect],
        transmit: @escaping @Sendable (UInt8) -> Void,
        setInterrupt: @escaping @Sendable (Bool) -> Void
    ) {
        state = Mutex(State(modemInputs: modemInputs))
        self.transmit = transmit
        self.setInterrupt = setInterrupt
    }

    // MARK: The guest's side

    /// A guest read of register `offset` (0-7).
    func read(offset: UInt16) -> UInt8 {
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
                var status: UInt8 = 0x60                              // THRE | TEMT: always empty
                if !state.received.isEmpty { status |= 0x01 }         // DR
                if state.overrun { status |= 0x02 }                   // OE
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
    func write(offset: UInt16, _ value: UInt8) {
        state.withLock { state in
            defer { updateInterrupt(&state) }
            switch offset {
            case Register.data:
                if state.divisorLatchAccess {
                    state.divisor = state.divisor & 0xFF00 | UInt16(value)
                } else if state.isLoopback {
                    enqueue(value, into: &state)
                    state.transmitterEmptyInterrupt = true
                } else {
                    transmit(value)
                    state.transmitterEmptyInterrupt = true
                }
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

    // MARK: The other end of the line

    /// Input from the other end: queues as many of `bytes` as the receive buffer has room for (16 with
    /// the FIFO on, 1 with it off; none in loopback mode) and returns how many it took.
    @discardableResult
    func receive(_ bytes: some Collection<UInt8>) -> Int {
        state.withLock { state in
            guard !state.isLoopback else { return 0 }
            let taken = min(bytes.count, state.capacity - state.received.count)
            guard taken > 0 else { return 0 }
            state.received.append(contentsOf: bytes.prefix(taken))
            updateInterrupt(&state)
            return taken
        }
    }

    /// Whether the guest wants input: it sets MCR.RTS ("request to send"; with hardware flow control the
    /// other end sends only while it is set), and the receive buffer has room.
    var isReadyToReceive: Bool {
        state.withLock { state in
            state.modemControl & 0x02 != 0 && !state.isLoopback && state.received.count < state.capacity
        }
    }

    /// Sets the modem-status inputs (what the other end drives), e.g. drops carrier detect when it hangs up.
    func setModemInputs(_ inputs: ModemInputs) {
        state.withLock { state in
            let old = state.modemLines
            state.modemInputs = inputs
            state.noteModemLines(from: old)
            updateInterrupt(&state)
        }
    }

    // MARK: Internals

    private func enqueue(_ byte: UInt8, into state: inout State) {
        if state.received.count < state.capacity {
            state.received.append(byte)
        } else {
            state.overrun = true
        }
    }

    private func updateInterrupt(_ state: inout State) {
        let level = state.pendingInterrupt != nil && state.modemControl & 0x08 != 0  // OUT2 gates it
        guard level != state.interruptLevel else { return }
        state.interruptLevel = level
        setInterrupt(level)
    }
}
