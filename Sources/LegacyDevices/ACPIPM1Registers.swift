import DeviceBus
import Synchronization

/// The PC's fixed ACPI power-management registers, the PM1a event and control blocks, as six
/// consecutive I/O ports: what a FADT that is *not* hardware-reduced must point at (ACPI 6.5, 4.8.3).
///
/// | offset | register | width | guest access                                                        |
/// | ------ | -------- | ----- | ------------------------------------------------------------------- |
/// | 0      | PM1_STS  | 16    | status bits; write 1 to clear (PWRBTN_STS bit 8, WAK_STS bit 15)     |
/// | 2      | PM1_EN   | 16    | enable bits (GBL_EN bit 5, PWRBTN_EN bit 8); the others read 0      |
/// | 4      | PM1_CNT  | 16    | SCI_EN (bit 0) reads 1; SLP_TYP (bits 10-12) with SLP_EN (bit 13) sleeps |
///
/// Describe it with `ACPITables`' `FADT.fixedHardware(pm1EventBlock: base, pm1ControlBlock: base + 4,
/// sciInterrupt: 9)`: no SMI command port, so the machine is always in ACPI mode and SCI_EN always
/// reads 1. Writing SLP_EN with SLP_TYP equal to ``s5SleepType`` (what the DSDT's `\_S5_` package
/// declares) asks for `MachineRequest.powerOff`; other sleep types are ignored (Linux only enters a
/// state the DSDT declares). ``pressPowerButton()`` sets PWRBTN_STS; the SCI (the `sciInterrupt` line, a
/// level-triggered line) is asserted while a status bit is set whose enable bit is set, so Linux's
/// ACPI button driver sees a fixed-feature power button and the guest shuts down in order.
///
/// Bits this machine does not implement (the PM timer, bus master, RTC and sleep button status and
/// enables) read 0 and ignore writes, as the FADT's flags declare them absent.
public final class ACPIPM1Registers: BusDevice {
    /// Six ports: the event block (PM1_STS, PM1_EN) and then the control block (PM1_CNT).
    public static let size: UInt64 = 6
    /// The offsets of the two blocks from the base (what the FADT's PM1a fields name).
    public static let eventBlockOffset: UInt64 = 0, controlBlockOffset: UInt64 = 4

    /// PM1_STS / PM1_EN bits.
    public enum Event {
        /// The global lock's release event (GBL_STS/GBL_EN): the enable bit sticks, so the OS knows the
        /// global lock exists (in the FACS); the status is never set, as no firmware ever holds the lock.
        public static let globalLock: UInt16 = 1 << 5
        public static let powerButton: UInt16 = 1 << 8
        /// PM1_STS only: the machine woke (never set here, clearable).
        public static let wake: UInt16 = 1 << 15
    }

    /// PM1_CNT bits.
    public enum Control {
        public static let sciEnable: UInt16 = 1 << 0
        public static let sleepTypeShift: UInt16 = 10
        public static let sleepEnable: UInt16 = 1 << 13
    }

    /// The sleep type the DSDT's `\_S5_` package declares.
    public let s5SleepType: UInt8

    private struct State {
        var status: UInt16 = 0
        var enable: UInt16 = 0
        var sleepType: UInt16 = 0
        var sciAsserted = false
    }
    private let state = Mutex(State())
    private let sciInterrupt: InterruptLine

    /// - Parameters:
    ///   - s5SleepType: the SLP_TYP for S5 (what `\_S5_` declares; 5 by convention).
    ///   - sciInterrupt: the SCI, level-triggered (e.g. `.irqLine(9, of: vm)`, with the MADT's override
    ///     for IRQ 9 saying level-triggered, active-high).
    public init(s5SleepType: UInt8 = 5, sciInterrupt: InterruptLine = .disconnected) {
        self.s5SleepType = s5SleepType & 0x07
        self.sciInterrupt = sciInterrupt
    }

    /// Presses the power button: sets PWRBTN_STS, which raises the SCI if the guest enabled it.
    public func pressPowerButton() {
        state.withLock { state in
            state.status |= Event.powerButton
            updateSCI(&state)
        }
    }

    /// Whether the SCI is asserted now.
    public var sciAsserted: Bool { state.withLock { $0.sciAsserted } }

    public func read(at offset: UInt64, size: Int) -> UInt64 {
        state.withLock { state in
            // 16-bit registers; byte-wise so that any access size and alignment sees the same bytes.
            var value: UInt64 = 0
            for byte in 0..<UInt64(size) {
                let register: UInt16 = switch (offset + byte) & ~1 {
                case 0: state.status
                case 2: state.enable
                case 4: Control.sciEnable | state.sleepType << Control.sleepTypeShift
                default: 0
                }
                let shift = ((offset + byte) & 1) * 8
                value |= UInt64((register >> UInt16(shift)) & 0xFF) << (8 * byte)
            }
            return value
        }
    }

    public func write(at offset: UInt64, size: Int, value: UInt64) -> MachineRequest? {
        state.withLock { state in
            var request: MachineRequest?
            for byte in 0..<UInt64(size) {
                let position = offset + byte
                let shift = UInt16((position & 1) * 8)
                let bits = UInt16(truncatingIfNeeded: value >> (8 * byte)) & 0xFF
                switch position & ~1 {
                case 0:
                    state.status &= ~((bits << shift) & (Event.powerButton | Event.wake))
                case 2:
                    let mask: UInt16 = 0xFF << shift
                    state.enable = (state.enable & ~mask) | ((bits << shift) & (Event.powerButton | Event.globalLock))
                case 4:
                    guard shift == 8 else { continue }  // the low byte holds SCI_EN, BM_RLD, GBL_RLS: nothing to do
                    let register = bits << 8
                    state.sleepType = (register >> Control.sleepTypeShift) & 0x7
                    if register & Control.sleepEnable != 0, state.sleepType == UInt16(s5SleepType) { request = .powerOff }
                default:
                    break
                }
            }
            updateSCI(&state)
            return request
        }
    }

    private func updateSCI(_ state: inout State) {
        let level = state.status & state.enable != 0
        guard level != state.sciAsserted else { return }
        state.sciAsserted = level
        sciInterrupt.set(level)
    }
}
