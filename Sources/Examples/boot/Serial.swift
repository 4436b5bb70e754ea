// A 16550A UART, as Linux's 8250 driver probes and drives it: divisor latch, IER/IIR with the
// received-data and THR-empty interrupts, FIFO control (IIR reports FIFOs, so it is detected as a
// 16550A), loopback (the MSR mirrors MCR, which the driver's autoconfig checks), scratch register.
// Transmission is instantaneous, so the line status always says "THR and transmitter empty".
// The model is not thread-safe; `Console` serializes access.

struct Serial16550A {
    // Register offsets from the base port.
    static let data = 0, interruptEnable = 1, interruptIdentification = 2, lineControl = 3
    static let modemControl = 4, lineStatus = 5, modemStatus = 6, scratch = 7

    static let ierReceivedData: UInt8 = 0x01
    static let ierTHREmpty: UInt8 = 0x02
    static let iirNoInterrupt: UInt8 = 0x01
    static let iirTHREmpty: UInt8 = 0x02
    static let iirReceivedData: UInt8 = 0x04
    static let iirFIFOsEnabled: UInt8 = 0xC0
    static let lcrDLAB: UInt8 = 0x80
    static let lsrDataReady: UInt8 = 0x01
    static let lsrTHREmpty: UInt8 = 0x20
    static let lsrTransmitterEmpty: UInt8 = 0x40
    static let mcrLoopback: UInt8 = 0x10
    static let fifoCapacity = 16

    var interruptEnable: UInt8 = 0
    var lineControl: UInt8 = 0x03  // 8N1
    var modemControl: UInt8 = 0x08  // OUT2
    var scratch: UInt8 = 0
    var divisorLow: UInt8 = 0x0C  // 9600 baud
    var divisorHigh: UInt8 = 0
    var fifoEnabled = false
    /// A THR-empty interrupt is pending (set when THR empties with the interrupt enabled, cleared by
    /// reading IIR while it is the reported source, or by writing THR).
    var threPending = false
    var receiveBuffer: [UInt8] = []

    /// Bytes the guest transmitted since the last `takeOutput()`.
    private(set) var output: [UInt8] = []

    init() {}

    var dlab: Bool { lineControl & Self.lcrDLAB != 0 }

    /// The interrupt line level: high while an enabled interrupt is pending.
    var interruptLine: Bool { identification & Self.iirNoInterrupt == 0 }

    /// IIR's interrupt id, highest priority first (received data, then THR empty).
    var identification: UInt8 {
        if interruptEnable & Self.ierReceivedData != 0, !receiveBuffer.isEmpty { return Self.iirReceivedData }
        if interruptEnable & Self.ierTHREmpty != 0, threPending { return Self.iirTHREmpty }
        return Self.iirNoInterrupt
    }

    mutating func read(_ offset: Int) -> UInt8 {
        switch offset {
        case Self.data:
            if dlab { return divisorLow }
            return receiveBuffer.isEmpty ? 0 : receiveBuffer.removeFirst()
        case Self.interruptEnable: return dlab ? divisorHigh : interruptEnable
        case Self.interruptIdentification:
            let id = identification
            if id == Self.iirTHREmpty { threPending = false }
            return id | (fifoEnabled ? Self.iirFIFOsEnabled : 0)
        case Self.lineControl: return lineControl
        case Self.modemControl: return modemControl
        case Self.lineStatus:
            return Self.lsrTHREmpty | Self.lsrTransmitterEmpty | (receiveBuffer.isEmpty ? 0 : Self.lsrDataReady)
        case Self.modemStatus:
            if modemControl & Self.mcrLoopback != 0 {
                // Loopback: DTR → DSR, RTS → CTS, OUT1 → RI, OUT2 → DCD.
                let mcr = modemControl
                return (mcr & 0x01) << 5 | (mcr & 0x02) << 3 | (mcr & 0x04) << 4 | (mcr & 0x08) << 4
            }
            return 0xB0  // DCD, DSR, CTS
        case Self.scratch: return scratch
        default: return 0xFF
        }
    }

    mutating func write(_ offset: Int, _ value: UInt8) {
        switch offset {
        case Self.data:
            if dlab {
                divisorLow = value
                return
            }
            if modemControl & Self.mcrLoopback != 0 {
                if receiveBuffer.count < Self.fifoCapacity { receiveBuffer.append(value) }
            } else {
                output.append(value)
            }
            threPending = true  // transmitted at once: THR is empty again
        case Self.interruptEnable:
            if dlab {
                divisorHigh = value
                return
            }
            let enablingTHRE = value & Self.ierTHREmpty != 0 && interruptEnable & Self.ierTHREmpty == 0
            interruptEnable = value & 0x0F
            if enablingTHRE { threPending = true }
        case Self.interruptIdentification:  // FCR
            fifoEnabled = value & 0x01 != 0
            if value & 0x02 != 0 { receiveBuffer.removeAll() }
        case Self.lineControl: lineControl = value
        case Self.modemControl: modemControl = value & 0x1F
        case Self.scratch: scratch = value
        default: break
        }
    }

    /// Queues host input for the guest (what the FIFO can hold; the rest is dropped).
    mutating func receive(_ bytes: [UInt8]) {
        receiveBuffer += bytes.prefix(max(0, Self.fifoCapacity * 64 - receiveBuffer.count))
    }

    /// Returns and clears the transmitted bytes.
    mutating func takeOutput() -> [UInt8] {
        defer { output.removeAll(keepingCapacity: true) }
        return output
    }
}
