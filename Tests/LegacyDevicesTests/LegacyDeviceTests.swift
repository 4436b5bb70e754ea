import DeviceBus
import LegacyDevices
import Synchronization
import Testing

struct I8042Tests {
    @Test func resetCommandAsksForAReset() {
        let i8042 = I8042()
        #expect(i8042.writeCommand(0xFE) == .reset)
        #expect(i8042.commandPort.write(at: 0, size: 1, value: 0xFE) == .reset)
        #expect(i8042.writeCommand(0xF0) == .reset, "any pulse with bit 0 clear")
        #expect(i8042.writeCommand(0xFF) == nil, "pulse nothing")
        #expect(i8042.writeCommand(0xD1) == nil)
        #expect(i8042.writeData(0x00) == .reset, "output port bit 0 low: reset")
    }

    @Test func statusAndCommandsAsLinuxProbesThem() {
        let i8042 = I8042()
        #expect(i8042.readStatus() == 0x04, "no data, input buffer empty, system flag")
        #expect(i8042.writeCommand(0xAA) == nil)
        #expect(i8042.readStatus() & 0x09 == 0x09, "reply waiting; last write was a command")
        #expect(i8042.readData() == 0x55, "self-test passed")
        #expect(i8042.readStatus() & 0x01 == 0)
        _ = i8042.writeCommand(0x20)
        let configuration = i8042.readData()
        _ = i8042.writeCommand(0x60)
        _ = i8042.writeData(configuration | 0x10)
        _ = i8042.writeCommand(0x20)
        #expect(i8042.readData() == configuration | 0x10)
        _ = i8042.writeCommand(0xAB)
        #expect(i8042.dataPort.read(at: 0, size: 1) == 0x00, "keyboard interface test passed")
        #expect(i8042.writeData(0xFF) == nil, "a byte for the absent keyboard")
        #expect(i8042.readStatus() & 0x01 == 0, "gets no reply")
    }
}

struct CMOSRTCTests {
    /// 2024-02-29 23:59:58 UTC, a Thursday.
    static let leapDay: Int64 = 1_709_251_198

    func read(_ rtc: CMOSRTC, _ index: UInt8) -> UInt8 {
        _ = rtc.write(at: 0, size: 1, value: UInt64(index))
        return UInt8(rtc.read(at: 1, size: 1))
    }

    func write(_ rtc: CMOSRTC, _ index: UInt8, _ value: UInt8) {
        _ = rtc.write(at: 0, size: 1, value: UInt64(index))
        _ = rtc.write(at: 1, size: 1, value: UInt64(value))
    }

    @Test func timeReadsInBCDByDefault() {
        let rtc = CMOSRTC(clock: { Self.leapDay })
        #expect(read(rtc, 0x00) == 0x58)
        #expect(read(rtc, 0x02) == 0x59)
        #expect(read(rtc, 0x04) == 0x23)
        #expect(read(rtc, 0x06) == 0x05, "Thursday (Sunday = 1)")
        #expect(read(rtc, 0x07) == 0x29)
        #expect(read(rtc, 0x08) == 0x02)
        #expect(read(rtc, 0x09) == 0x24)
        #expect(read(rtc, 0x32) == 0x20)
        #expect(read(rtc, 0x0A) == 0x26, "UIP clear")
        #expect(read(rtc, 0x0B) == 0x02, "BCD, 24-hour")
        #expect(read(rtc, 0x0C) == 0x00)
        #expect(read(rtc, 0x0D) == 0x80, "valid RAM and time")
    }

    @Test func binaryAndTwelveHourModesFollowRegisterB() {
        let rtc = CMOSRTC(clock: { Self.leapDay })
        write(rtc, 0x0B, 0x04)  // binary, 12-hour
        #expect(read(rtc, 0x00) == 58)
        #expect(read(rtc, 0x04) == 0x80 | 11, "11 PM")
        #expect(read(rtc, 0x09) == 24)
        write(rtc, 0x0B, 0x00)  // BCD, 12-hour
        #expect(read(rtc, 0x04) == 0x80 | 0x11)
        let midnight = CMOSRTC(clock: { 1_709_251_200 })  // 2024-03-01 00:00:00
        write(midnight, 0x0B, 0x00)
        #expect(read(midnight, 0x04) == 0x12, "12 AM")
        #expect(read(midnight, 0x07) == 0x01 && read(midnight, 0x08) == 0x03)
    }

    @Test func theGuestSetsTheClockAsAnOffset() {
        let now = Mutex<Int64>(Self.leapDay)
        let rtc = CMOSRTC(clock: { now.withLock { $0 } })
        write(rtc, 0x0B, 0x82)  // SET: the clock stands still for the guest
        write(rtc, 0x09, 0x30)  // 2030
        write(rtc, 0x08, 0x01)
        write(rtc, 0x07, 0x15)
        write(rtc, 0x04, 0x08)
        write(rtc, 0x02, 0x00)
        write(rtc, 0x00, 0x00)
        now.withLock { $0 += 100 }
        #expect(read(rtc, 0x00) == 0x00, "frozen while SET")
        write(rtc, 0x0B, 0x02)
        now.withLock { $0 += 5 }
        #expect(rtc.guestTime == CivilTime(year: 2030, month: 1, day: 15, hour: 8, minute: 0, second: 5))
        #expect(read(rtc, 0x06) == 0x03, "2030-01-15 is a Tuesday")
    }

    /// A guest that writes nonsense to every register, in both modes, never crashes the VMM.
    @Test func garbageInEveryRegisterIsSurvived() {
        let rtc = CMOSRTC(clock: { Self.leapDay })
        for b: UInt8 in [0x82, 0x86, 0x02, 0x06] {
            write(rtc, 0x0B, b)
            for index in UInt8(0)...0x7F where index != 0x0B { write(rtc, index, 0xFF) }
            for index in UInt8(0)...0x7F { _ = read(rtc, index) }
            for index in UInt8(0)...0x0D where index != 0x0B { write(rtc, index, 0x00) }
            for index in UInt8(0)...0x7F { _ = read(rtc, index) }
        }
        write(rtc, 0x0B, 0x02)
        #expect(read(rtc, 0x0D) == 0x80)
    }

    @Test func ramBytesAndTheNMIBitAreKept() {
        let rtc = CMOSRTC(clock: { 0 })
        for index: UInt8 in [0x0E, 0x31, 0x7F, 0x01] { write(rtc, index, index ^ 0xA5) }
        for index: UInt8 in [0x0E, 0x31, 0x7F, 0x01] { #expect(read(rtc, index) == index ^ 0xA5) }
        _ = rtc.write(at: 0, size: 1, value: 0x80 | 0x0E)
        #expect(rtc.nmiDisabled)
        #expect(rtc.read(at: 1, size: 1) == 0x0E ^ 0xA5, "the index is bits 0-6")
        write(rtc, 0x0E, 0)
        #expect(!rtc.nmiDisabled)
    }

    @Test func civilTimeRoundTripsAcrossCenturiesAndLeapYears() {
        for seconds: Int64 in [0, 951_782_400, 4_107_542_399, -1, 253_402_300_799, Self.leapDay] {
            #expect(CivilTime(secondsSinceEpoch: seconds).secondsSinceEpoch == seconds, "\(seconds)")
        }
        #expect(CivilTime(secondsSinceEpoch: 951_782_400) == CivilTime(year: 2000, month: 2, day: 29))
        #expect(CivilTime(secondsSinceEpoch: -1) == CivilTime(year: 1969, month: 12, day: 31, hour: 23, minute: 59, second: 59))
        #expect(CivilTime(year: 2023, month: 13, day: 1).secondsSinceEpoch == CivilTime(year: 2024, month: 1, day: 1).secondsSinceEpoch)
    }

    @Test func hostClockIsTheDefault() {
        let rtc = CMOSRTC()
        #expect(abs(rtc.guestTime.secondsSinceEpoch - CMOSRTC.hostClock()) <= 2)
        #expect(rtc.guestTime.year >= 2024)
    }
}

struct DebugExitPortTests {
    @Test(arguments: [(UInt64(0), Int32(1)), (1, 3), (0x21, 0x43), (0x7F, 0xFF)])
    func writeAsksToExitWithValueShiftedOrOne(value: UInt64, status: Int32) {
        #expect(DebugExitPort().write(at: 0, size: 4, value: value) == .exit(status: status))
        #expect(DebugExitPort().write(at: 0, size: 1, value: value) == .exit(status: status))
    }

    @Test func readsFloat() { #expect(DebugExitPort().read(at: 0, size: 4) == .max) }
}

struct ACPIPowerControlTests {
    @Test func s5WithSleepEnablePowersOff() {
        let power = ACPIPowerControl()
        #expect(power.write(at: 0, size: 1, value: 5 << 2 | 0x20) == .powerOff)
        #expect(power.write(at: 0, size: 1, value: 5 << 2) == nil, "no SLP_EN")
        #expect(power.write(at: 0, size: 1, value: 3 << 2 | 0x20) == nil, "S3 is not supported")
        #expect(power.write(at: 1, size: 1, value: 0x80) == nil, "clearing WAK_STS")
        #expect(power.read(at: 1, size: 1) == 0)
        #expect(ACPIPowerControl(s5SleepType: 7).write(at: 0, size: 1, value: 7 << 2 | 0x20) == .powerOff)
    }

    @Test func resetRegisterResets() {
        let power = ACPIPowerControl(resetValue: 0x06)
        #expect(power.write(at: 2, size: 1, value: 0x06) == .reset)
        #expect(power.write(at: 2, size: 1, value: 0x01) == nil)
        #expect(power.write(at: 0, size: 4, value: 0x0006_0000) == .reset, "a wide write reaches the reset byte")
    }
}

struct ACPIPM1RegistersTests {
    /// What the SCI did, in order.
    final class Levels: Sendable {
        let changes = Mutex<[Bool]>([])
        var line: InterruptLine { InterruptLine { level in self.changes.withLock { $0.append(level) } } }
    }

    @Test func controlBlockReadsSCIEnabledAndPowersOffOnS5() {
        let pm = ACPIPM1Registers()
        #expect(pm.read(at: 4, size: 2) == 1, "SCI_EN: always in ACPI mode (no SMI command port)")
        #expect(pm.write(at: 4, size: 2, value: 5 << 10) == nil, "SLP_TYP without SLP_EN")
        #expect(pm.read(at: 4, size: 2) == 5 << 10 | 1, "SLP_TYP reads back, SLP_EN does not")
        #expect(pm.write(at: 4, size: 2, value: 3 << 10 | 1 << 13) == nil, "S3 is not supported")
        #expect(pm.write(at: 4, size: 2, value: 5 << 10 | 1 << 13 | 1) == .powerOff)
        #expect(pm.write(at: 5, size: 1, value: (5 << 10 | 1 << 13) >> 8) == .powerOff, "the high byte alone")
        #expect(ACPIPM1Registers(s5SleepType: 7).write(at: 4, size: 2, value: 7 << 10 | 1 << 13) == .powerOff)
        #expect(pm.write(at: 0, size: 4, value: 0xFFFF_FFFF) == nil, "the event block never asks for anything")
    }

    @Test func powerButtonRaisesTheSCIOnlyWhileEnabledAndUncleared() {
        let levels = Levels()
        let pm = ACPIPM1Registers(sciInterrupt: levels.line)
        pm.pressPowerButton()
        #expect(pm.read(at: 0, size: 2) == 0x100, "PWRBTN_STS")
        #expect(!pm.sciAsserted, "PWRBTN_EN is clear")
        #expect(pm.write(at: 2, size: 2, value: 0xFFFF) == nil)
        #expect(pm.read(at: 2, size: 2) == 0x120, "only PWRBTN_EN and GBL_EN are implemented")
        #expect(pm.sciAsserted, "enabling an already set status raises the SCI")
        #expect(pm.read(at: 0, size: 4) == 0x0120_0100, "PM1_STS and PM1_EN in one 32-bit read")
        #expect(pm.write(at: 0, size: 2, value: 0x0001) == nil)
        #expect(pm.sciAsserted, "writing 1 to an unimplemented status bit clears nothing")
        #expect(pm.write(at: 1, size: 1, value: 0x01) == nil, "write 1 to clear PWRBTN_STS (the high byte)")
        #expect(pm.read(at: 0, size: 2) == 0)
        #expect(!pm.sciAsserted)
        pm.pressPowerButton()
        #expect(pm.sciAsserted)
        #expect(pm.write(at: 2, size: 2, value: 0) == nil, "disabling lowers the line")
        #expect(!pm.sciAsserted)
        #expect(levels.changes.withLock { $0 } == [true, false, true, false], "one change per level transition")
    }

    @Test func unimplementedOffsetsAndOddAccessesAreHarmless() {
        let pm = ACPIPM1Registers()
        #expect(pm.read(at: 3, size: 3) == 0x00_0100, "PM1_EN high byte, then PM1_CNT low (SCI_EN) and high")
        #expect(pm.read(at: 5, size: 1) == 0)
        #expect(pm.write(at: 4, size: 1, value: 0xFF) == nil, "the low control byte (SCI_EN, BM_RLD, GBL_RLS) is ignored")
        #expect(pm.read(at: 4, size: 2) == 1)
    }
}
