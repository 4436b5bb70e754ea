import DeviceBus
import Glibc
import Synchronization

/// The PC's CMOS real-time clock and its RAM (an MC146818), at ports 0x70 (index) and 0x71 (data).
///
/// Register it with ``size`` ports at ``baseAddress``. The guest writes a register index to port 0x70
/// (bit 7 there is the NMI-disable bit, which is kept and reported by ``nmiDisabled`` but gates
/// nothing) and reads or writes the register at port 0x71.
///
/// - Time registers (0x00 seconds, 0x02 minutes, 0x04 hours, 0x06 day of week, 0x07 day, 0x08 month,
///   0x09 year, 0x32 century) read the host's clock (UTC) plus the offset the guest set, in BCD or
///   binary and 12- or 24-hour form as register B selects (B bit 2: binary, bit 1: 24-hour; in
///   12-hour form bit 7 of the hours is PM).
/// - Register A reads 0x26 by default (32.768 kHz time base, 1024 Hz rate) with the update-in-progress
///   bit always clear, so a guest never waits for an update cycle. Register B defaults to 0x02 (BCD,
///   24-hour). Register C (interrupt flags) reads 0: this model raises no interrupts (no periodic,
///   alarm or update interrupt on IRQ 8). Register D reads 0x80: the RAM and time are valid.
/// - Setting the clock: writes to the time registers change the guest's offset from the host clock.
///   While register B's SET bit (7) is on, the time stands still for the guest and its writes go to a
///   snapshot, which becomes the guest's time when SET is cleared, as on the real chip.
/// - The other bytes (alarm registers 0x01/0x03/0x05, 0x0E-0x7F) are plain RAM, initially zero.
public final class CMOSRTC: BusDevice {
    public static let baseAddress: UInt64 = 0x70
    public static let size: UInt64 = 2
    /// The century register's index (what the FADT's CENTURY field names).
    public static let centuryRegister: UInt8 = 0x32

    /// Register indexes.
    public enum Register {
        public static let seconds: UInt8 = 0x00, minutes: UInt8 = 0x02, hours: UInt8 = 0x04
        public static let dayOfWeek: UInt8 = 0x06, dayOfMonth: UInt8 = 0x07, month: UInt8 = 0x08, year: UInt8 = 0x09
        public static let a: UInt8 = 0x0A, b: UInt8 = 0x0B, c: UInt8 = 0x0C, d: UInt8 = 0x0D
        public static let century: UInt8 = 0x32
    }

    /// Register B's bits.
    public enum RegisterB {
        public static let set: UInt8 = 0x80
        public static let binary: UInt8 = 0x04
        public static let twentyFourHour: UInt8 = 0x02
    }

    private struct State {
        var index: UInt8 = 0
        var nmiDisabled = false
        var ram = [UInt8](repeating: 0, count: 128)
        var offset: Int64 = 0            // guest time - host time, seconds
        var frozen: CivilTime?           // the snapshot while B.SET is on
    }

    private let state: Mutex<State>
    private let clock: @Sendable () -> Int64

    /// - Parameter clock: seconds since the Unix epoch, UTC (default: the host's `CLOCK_REALTIME`).
    public init(clock: @escaping @Sendable () -> Int64 = CMOSRTC.hostClock) {
        var initial = State()
        initial.ram[Int(Register.a)] = 0x26
        initial.ram[Int(Register.b)] = RegisterB.twentyFourHour
        initial.ram[Int(Register.d)] = 0x80
        state = Mutex(initial)
        self.clock = clock
    }

    /// The host's `CLOCK_REALTIME`, in whole seconds.
    public static func hostClock() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec)
    }

    /// Whether the guest last wrote the index port with bit 7 (NMI disable) set.
    public var nmiDisabled: Bool { state.withLock { $0.nmiDisabled } }

    /// The guest's current time (the host's plus the offset it set).
    public var guestTime: CivilTime {
        state.withLock { state in state.frozen ?? CivilTime(secondsSinceEpoch: clock() + state.offset) }
    }

    /// A read of register `index` (0-0x7F).
    public func read(register index: UInt8) -> UInt8 {
        state.withLock { state in readRegister(index & 0x7F, &state) }
    }

    /// A write of register `index` (0-0x7F).
    public func write(register index: UInt8, _ value: UInt8) {
        state.withLock { state in writeRegister(index & 0x7F, value, &state) }
    }

    public func read(at offset: UInt64, size: Int) -> UInt64 {
        state.withLock { state in
            offset == 0 ? UInt64(state.index | (state.nmiDisabled ? 0x80 : 0)) : UInt64(readRegister(state.index, &state))
        }
    }

    public func write(at offset: UInt64, size: Int, value: UInt64) -> MachineRequest? {
        let byte = UInt8(truncatingIfNeeded: value)
        state.withLock { state in
            if offset == 0 {
                state.index = byte & 0x7F
                state.nmiDisabled = byte & 0x80 != 0
            } else {
                writeRegister(state.index, byte, &state)
            }
        }
        return nil
    }

    // MARK: Under the lock

    private func now(_ state: State) -> CivilTime { state.frozen ?? CivilTime(secondsSinceEpoch: clock() + state.offset) }

    private func readRegister(_ index: UInt8, _ state: inout State) -> UInt8 {
        let b = state.ram[Int(Register.b)]
        let binary = b & RegisterB.binary != 0
        func encode(_ value: Int) -> UInt8 {
            // Truncating: while SET is on, fields hold whatever the guest wrote (BCD 0xFF decodes to 165).
            UInt8(truncatingIfNeeded: binary ? value : (value / 10) << 4 | value % 10)
        }
        let time = now(state)
        switch index {
        case Register.seconds: return encode(time.second)
        case Register.minutes: return encode(time.minute)
        case Register.hours:
            if b & RegisterB.twentyFourHour != 0 { return encode(time.hour) }
            let hour12 = time.hour % 12 == 0 ? 12 : time.hour % 12
            return encode(hour12) | (time.hour >= 12 ? 0x80 : 0)
        case Register.dayOfWeek: return encode(time.dayOfWeek)
        case Register.dayOfMonth: return encode(time.day)
        case Register.month: return encode(time.month)
        case Register.year: return encode(((time.year % 100) + 100) % 100)
        case Register.century: return encode(max(0, time.year / 100) % 100)
        case Register.a: return state.ram[Int(index)] & 0x7F  // UIP never set
        case Register.c: return 0
        case Register.d: return 0x80
        default: return state.ram[Int(index)]
        }
    }

    private func writeRegister(_ index: UInt8, _ value: UInt8, _ state: inout State) {
        let b = state.ram[Int(Register.b)]
        let binary = b & RegisterB.binary != 0
        func decode(_ byte: UInt8) -> Int { binary ? Int(byte) : Int(byte >> 4) * 10 + Int(byte & 0x0F) }
        var time = now(state)
        switch index {
        case Register.seconds: time.second = decode(value)
        case Register.minutes: time.minute = decode(value)
        case Register.hours:
            if b & RegisterB.twentyFourHour != 0 {
                time.hour = decode(value)
            } else {
                let hour12 = decode(value & 0x7F) % 12
                time.hour = hour12 + (value & 0x80 != 0 ? 12 : 0)
            }
        case Register.dayOfWeek: return  // derived from the date
        case Register.dayOfMonth: time.day = decode(value)
        case Register.month: time.month = decode(value)
        case Register.year: time.year = time.year / 100 * 100 + decode(value)
        case Register.century: time.year = decode(value) * 100 + time.year % 100
        case Register.a:
            state.ram[Int(index)] = value & 0x7F
            return
        case Register.b:
            state.ram[Int(index)] = value
            if value & RegisterB.set != 0 {
                if state.frozen == nil { state.frozen = time }
            } else if let frozen = state.frozen {
                state.offset = frozen.secondsSinceEpoch - clock()
                state.frozen = nil
            }
            return
        case Register.c, Register.d: return  // read-only
        default:
            state.ram[Int(index)] = value
            return
        }
        if state.frozen != nil {
            state.frozen = time
        } else {
            state.offset = time.secondsSinceEpoch - clock()
        }
    }
}
