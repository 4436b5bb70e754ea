import DeviceBus

/// The registers a hardware-reduced ACPI machine powers off and resets through: the FADT's sleep
/// control and sleep status registers and its reset register, as three byte-wide ports.
///
/// | offset | register       | guest write                                                         |
/// | ------ | -------------- | ------------------------------------------------------------------- |
/// | 0      | sleep control  | SLP_EN (bit 5) with SLP_TYP (bits 2-4) = the `\_S5_` type: power off |
/// | 1      | sleep status   | write-1-to-clear WAK_STS (bit 7); reads 0 (the machine never sleeps) |
/// | 2      | reset          | ``resetValue``: reset                                               |
///
/// Sleep states other than S5 are not supported: Linux only enters them if the DSDT declares their
/// `\_Sx_` packages, and a write asking for one is ignored. Describe the registers with
/// `ACPITables`' FADT builder at the same ports (`FADT.hardwareReduced(...)`) and declare the same
/// ``s5SleepType`` in the DSDT's `\_S5_` package.
public struct ACPIPowerControl: BusDevice {
    public static let size: UInt64 = 3
    /// Offsets from the base.
    public static let sleepControlOffset: UInt64 = 0, sleepStatusOffset: UInt64 = 1, resetOffset: UInt64 = 2
    /// SLP_EN.
    public static let sleepEnable: UInt8 = 1 << 5
    /// The reset register's value, for the FADT's RESET_VALUE.
    public let resetValue: UInt8
    /// The SLP_TYP the DSDT's `\_S5_` package declares.
    public let s5SleepType: UInt8

    /// - Parameters:
    ///   - s5SleepType: the sleep type for S5 (what `\_S5_` declares; 5 by convention).
    ///   - resetValue: what the guest writes to the reset register to reset (the FADT's RESET_VALUE).
    public init(s5SleepType: UInt8 = 5, resetValue: UInt8 = 0x01) {
        self.s5SleepType = s5SleepType & 0x07
        self.resetValue = resetValue
    }

    public func read(at offset: UInt64, size: Int) -> UInt64 { 0 }

    public func write(at offset: UInt64, size: Int, value: UInt64) -> MachineRequest? {
        // Byte-wide registers: a wider access writes the following ones too.
        for byte in 0..<UInt64(size) {
            let register = UInt8(truncatingIfNeeded: value >> (8 * byte))
            switch offset + byte {
            case Self.sleepControlOffset:
                if register & Self.sleepEnable != 0, (register >> 2) & 0x07 == s5SleepType { return .powerOff }
            case Self.resetOffset:
                if register == resetValue { return .reset }
            default:
                break
            }
        }
        return nil
    }
}
