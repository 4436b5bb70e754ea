import DeviceBus
import LegacyDevices
import Synchronization
import Testing

/// Collects what a UART transmits and every level its interrupt line was set to.
final class UARTHarness: Sendable {
    final class Recorder: Sendable {
        let output = Mutex<[UInt8]>([])
        let levels = Mutex<[Bool]>([])
    }

    let recorder = Recorder()
    let uart: Serial16550A

    init(modemInputs: Serial16550A.ModemInputs = [.clearToSend, .dataSetReady, .carrierDetect]) {
        let recorder = self.recorder
        uart = Serial16550A(
            interrupt: InterruptLine { level in recorder.levels.withLock { $0.append(level) } }, modemInputs: modemInputs,
            output: { byte in recorder.output.withLock { $0.append(byte) } })
    }

    var transmitted: [UInt8] { recorder.output.withLock { $0 } }
    var lineLevels: [Bool] { recorder.levels.withLock { $0 } }
    func read(_ register: Int) -> UInt8 { uart.read(register: register) }
    func write(_ register: Int, _ value: UInt8) { uart.write(register: register, value) }
}

struct Serial16550ATests {
    typealias R = Serial16550A.Register

    @Test func resetStateIsWhatThe8250DriverExpects() {
        let h = UARTHarness()
        #expect(h.read(R.interruptEnable) == 0)
        #expect(h.read(R.interruptIdentification) == 0x01, "no interrupt pending, FIFOs off")
        #expect(h.read(R.lineControl) == 0x03)
        #expect(h.read(R.modemControl) == 0)
        #expect(h.read(R.lineStatus) == 0x60, "THR empty, transmitter empty, no data")
        #expect(h.read(R.modemStatus) == 0xB0, "CTS, DSR, DCD from the other end")
        #expect(h.lineLevels.isEmpty)
    }

    @Test func divisorLatchSharesTheFirstTwoRegisters() {
        let h = UARTHarness()
        h.write(R.interruptEnable, 0x05)
        h.write(R.lineControl, 0x83)  // DLAB
        #expect(h.read(R.data) == 12 && h.read(R.interruptEnable) == 0, "9600 baud: divisor 12")
        h.write(R.data, 0x01)
        h.write(R.interruptEnable, 0x02)
        #expect(h.read(R.data) == 0x01 && h.read(R.interruptEnable) == 0x02)
        h.write(R.lineControl, 0x03)
        #expect(h.read(R.interruptEnable) == 0x05, "IER kept while DLAB was set")
        h.write(R.data, 0x41)
        #expect(h.transmitted == [0x41], "only the byte written with DLAB clear is sent")
    }

    @Test func scratchRegisterHoldsAnyValue() {
        let h = UARTHarness()
        for value: UInt8 in [0x00, 0x5A, 0xA5, 0xFF] {
            h.write(R.scratch, value)
            #expect(h.read(R.scratch) == value)
        }
    }

    @Test func receivedDataRaisesTheInterruptOnlyWithIERAndOUT2() {
        let h = UARTHarness()
        #expect(h.uart.receive([0x61]) == 1)
        #expect(h.read(R.lineStatus) & 0x01 == 0x01, "data ready")
        #expect(h.lineLevels.isEmpty, "IER off: no interrupt")
        h.write(R.interruptEnable, 0x01)
        #expect(h.read(R.interruptIdentification) == 0x04, "received data available")
        #expect(h.lineLevels.isEmpty, "OUT2 off: the line stays low")
        h.write(R.modemControl, 0x08)
        #expect(h.lineLevels == [true])
        #expect(h.read(R.data) == 0x61)
        #expect(h.lineLevels == [true, false], "reading the byte lowers the line")
        #expect(h.read(R.interruptIdentification) == 0x01)
        #expect(h.read(R.lineStatus) & 0x01 == 0)
    }

    @Test func transmitterEmptyInterruptIsAcknowledgedByReadingIIR() {
        let h = UARTHarness()
        h.write(R.modemControl, 0x08)
        h.write(R.interruptEnable, 0x02)
        #expect(h.lineLevels == [true], "enabling THRE with THR empty raises it")
        #expect(h.read(R.interruptIdentification) == 0x02)
        #expect(h.lineLevels == [true, false])
        #expect(h.read(R.interruptIdentification) == 0x01)
        h.write(R.data, 0x42)
        #expect(h.lineLevels == [true, false, true], "sent at once: THR empty again")
        #expect(h.transmitted == [0x42])
    }

    @Test func receivedDataOutranksTransmitterEmpty() {
        let h = UARTHarness()
        h.write(R.modemControl, 0x08)
        h.write(R.interruptEnable, 0x03)
        h.uart.receive([0x01])
        #expect(h.read(R.interruptIdentification) == 0x04)
        _ = h.read(R.data)
        #expect(h.read(R.interruptIdentification) == 0x02)
    }

    @Test func fifoHoldsSixteenBytesAndReportsTimeoutBelowTheTriggerLevel() {
        let h = UARTHarness()
        #expect(h.uart.receive([1, 2, 3]) == 1, "FIFO off: one byte")
        h.write(R.fifoControl, 0x81)  // FIFO on (clears it), trigger level 8
        #expect(h.read(R.interruptIdentification) & 0xC0 == 0xC0, "FIFOs enabled")
        #expect(h.read(R.lineStatus) & 0x01 == 0, "enabling the FIFO cleared it")
        #expect(h.uart.receive(Array(1...20)) == 16)
        #expect(!h.uart.hasRoom)
        h.write(R.interruptEnable, 0x01)
        #expect(h.read(R.interruptIdentification) == 0xC4, "16 ≥ 8: data available")
        for expected in UInt8(1)...9 { #expect(h.read(R.data) == expected) }
        #expect(h.read(R.interruptIdentification) == 0xCC, "7 < 8: character timeout")
        h.write(R.fifoControl, 0x83)  // clear the receive FIFO
        #expect(h.read(R.lineStatus) & 0x01 == 0)
        #expect(h.read(R.interruptIdentification) == 0xC1)
    }

    @Test func loopbackWiresTHRToRBRAndModemOutputsToInputs() {
        let h = UARTHarness()
        h.write(R.fifoControl, 0x01)
        h.write(R.modemControl, 0x10 | 0x01 | 0x02)  // loop, DTR, RTS
        #expect(h.read(R.modemStatus) & 0xF0 == 0x30, "RTS → CTS, DTR → DSR")
        for byte in Array("loop".utf8) { h.write(R.data, byte) }
        #expect(h.transmitted.isEmpty, "nothing leaves in loopback")
        #expect(h.uart.receive([0x00]) == 0, "the line is disconnected in loopback")
        #expect((0..<4).map { _ in h.read(R.data) } == Array("loop".utf8))
        for _ in 0..<17 { h.write(R.data, 0x55) }
        #expect(h.read(R.lineStatus) & 0x02 == 0x02, "overrun after 16")
        #expect(h.read(R.lineStatus) & 0x02 == 0, "reading LSR clears OE")
        h.write(R.modemControl, 0x10 | 0x0C)  // OUT1, OUT2
        #expect(h.read(R.modemStatus) & 0xF0 == 0xC0, "OUT1 → RI, OUT2 → DCD")
    }

    @Test func carrierDropIsAModemStatusInterrupt() {
        let h = UARTHarness()
        h.write(R.modemControl, 0x08)
        h.write(R.interruptEnable, 0x08)
        h.uart.setModemInputs([.clearToSend, .dataSetReady])
        #expect(h.lineLevels == [true])
        #expect(h.read(R.interruptIdentification) == 0x00, "modem status")
        #expect(h.read(R.modemStatus) == 0x38, "CTS, DSR, ΔDCD")
        #expect(h.lineLevels == [true, false], "reading MSR clears the delta")
    }

    @Test func wideBusAccessesSplitIntoConsecutiveRegisters() {
        let h = UARTHarness()
        h.write(R.scratch, 0x77)
        #expect(h.uart.read(at: 6, size: 2) == 0x7700 | 0xB0)
        _ = h.uart.write(at: 3, size: 2, value: 0x0883)  // LCR = 0x83, MCR = 0x08
        #expect(h.read(R.lineControl) == 0x83 && h.read(R.modemControl) == 0x08)
    }

    @Test func inputFromAnotherThreadWhileTheGuestReads() async {
        let h = UARTHarness()
        h.write(R.fifoControl, 0x01)
        let bytes = (0..<2000).map { UInt8(truncatingIfNeeded: $0) }
        let uart = h.uart
        async let fed: Void = Task.detached {
            var rest = bytes[...]
            while !rest.isEmpty {
                let taken = uart.receive(rest)
                rest = rest.dropFirst(taken)
                if taken == 0 { await Task.yield() }
            }
        }.value
        var got: [UInt8] = []
        while got.count < bytes.count {
            if uart.read(register: R.lineStatus) & 0x01 != 0 { got.append(uart.read(register: R.data)) } else { await Task.yield() }
        }
        await fed
        #expect(got == bytes, "every byte once, in order")
    }
}
