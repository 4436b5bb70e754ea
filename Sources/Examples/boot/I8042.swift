// The minimum of an i8042 keyboard controller a VMM needs: the "pulse reset line" command (0xFE on
// port 0x64), which Linux uses to reboot (reboot=k, and through the FADT reset register here). Status
// reads say "no data, input buffer empty", so a driver probing it sees no device and moves on.

struct I8042 {
    static let dataPort: UInt16 = 0x60
    static let commandPort: UInt16 = 0x64
    static let resetCommand: UInt8 = 0xFE

    enum Action: Equatable { case none, reset }

    func read(port: UInt16) -> UInt8 { 0 }

    func write(port: UInt16, value: UInt8) -> Action {
        port == Self.commandPort && value == Self.resetCommand ? .reset : .none
    }
}

/// ACPI hardware-reduced sleep control (the FADT's SLEEP_CONTROL_REG): writing SLP_EN (bit 5) with
/// SLP_TYP (bits 2-4) = the DSDT's `\_S5_` value is a power-off.
struct ACPISleepControl {
    static let sleepEnable: UInt8 = 1 << 5

    enum Action: Equatable { case none, powerOff }

    func write(port: UInt16, value: UInt8) -> Action {
        guard port == ACPITables.sleepControlPort, value & Self.sleepEnable != 0 else { return .none }
        return (value >> 2) & 0x7 == ACPITables.s5SleepType ? .powerOff : .none
    }
}
