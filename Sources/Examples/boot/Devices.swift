// The machine's devices in one place: where each sits on the I/O bus, and how the ACPI tables
// describe the same ports and IRQs, so the two cannot disagree.
//
// | ports        | device                                          | ACPI                         |
// | ------------ | ----------------------------------------------- | ---------------------------- |
// | 0x3F8-0x3FF  | COM1: 16550A UART, IRQ 4, stdout/stdin           | DSDT `\_SB.COM1` (PNP0501)   |
// | 0x60, 0x64   | i8042 (reset command 0xFE)                       | -                            |
// | 0x70-0x71    | CMOS RTC (host clock, UTC)                       | FADT century register 0x32   |
// | 0x600-0x602  | ACPI sleep control, sleep status, reset          | FADT, DSDT `\_S5_`           |
// | 0xF4-0xF7    | isa-debug-exit: exit status (value << 1) | 1   | -                            |
//
// plus a control-method power button in the DSDT (`\_SB.PWRB`). KVM's in-kernel PIC, PIT (with the
// speaker port 0x61), IOAPIC and LAPICs answer their own ports and MMIO without exits.

import ACPITables
import DeviceBus
import KVM
import LegacyDevices

/// The name `KernelLoader` and `DryRun` know the placed tables by.
typealias ACPITables = ACPITableSet

enum BootDevices {
    static let com1Port: UInt16 = 0x3F8
    static let com1IRQ: UInt32 = 4
    static let acpiPowerPort: UInt16 = 0x600
    static let acpiPower = ACPIPowerControl()

    /// The I/O bus, with COM1 driving IRQ 4 of `vm` (nil in `--dry-run`: no interrupts) and writing to `console`.
    static func bus(vm: VirtualMachine?, console: Console) throws -> (bus: MachineBus, uart: Serial16550A) {
        let interrupt = vm.map { InterruptLine.irqLine(com1IRQ, of: $0) } ?? .disconnected
        let uart = Serial16550A(interrupt: interrupt) { console.transmit($0) }
        let i8042 = I8042()
        var bus = MachineBus()
        try bus.portIO.register(uart, base: UInt64(com1Port), size: Serial16550A.size)
        try bus.portIO.register(i8042.dataPort, base: I8042.dataPortAddress, size: 1)
        try bus.portIO.register(i8042.commandPort, base: I8042.commandPortAddress, size: 1)
        try bus.portIO.register(CMOSRTC(), base: CMOSRTC.baseAddress, size: CMOSRTC.size)
        try bus.portIO.register(acpiPower, base: UInt64(acpiPowerPort), size: ACPIPowerControl.size)
        try bus.portIO.register(DebugExitPort(), base: DebugExitPort.defaultAddress, size: DebugExitPort.size)
        return (bus, uart)
    }

    /// What the guest's write to `port` that asked for a machine request came from, for messages.
    static func requester(port: UInt16) -> String {
        switch UInt64(port) {
        case I8042.commandPortAddress, I8042.dataPortAddress: "i8042 reset command"
        case UInt64(acpiPowerPort)...(UInt64(acpiPowerPort) + ACPIPowerControl.size - 1): "ACPI"
        case DebugExitPort.defaultAddress...(DebugExitPort.defaultAddress + DebugExitPort.size - 1): "isa-debug-exit port"
        default: "port \(hex(port))"
        }
    }

    /// RSDP → XSDT → FADT (hardware-reduced: sleep control/status and reset registers at 0x600-0x602)
    /// → DSDT (`\_S5_`, COM1, the power button), and the MADT (a LAPIC per vCPU, the IOAPIC, LINT1 as
    /// NMI), as one blob for `base`.
    static func acpiTables(base: UInt64, cpuCount: Int) throws -> ACPITableSet {
        let fadt = FADT.hardwareReduced(
            sleepControl: .ioPort(acpiPowerPort + UInt16(ACPIPowerControl.sleepControlOffset)),
            sleepStatus: .ioPort(acpiPowerPort + UInt16(ACPIPowerControl.sleepStatusOffset)),
            reset: (.ioPort(acpiPowerPort + UInt16(ACPIPowerControl.resetOffset)), acpiPower.resetValue),
            // No 8042 bit: Linux then does not probe a keyboard controller (the i8042 model has no
            // keyboard). CMOS RTC "not present": Linux still reads the wall clock from it at boot, but
            // registers no rtc_cmos device, whose alarm interrupt hardware-reduced ACPI cannot deliver.
            bootArchitecture: [.vgaNotPresent, .cmosRTCNotPresent],
            centuryRegister: CMOSRTC.centuryRegister)
        let dsdt = DefinitionBlock.dsdt([
            AML.sleepState5(type: acpiPower.s5SleepType),
            AML.Scope("\\_SB_", [
                AML.serialPort(name: "COM1", uid: 1, port: com1Port, irq: UInt8(com1IRQ)),
                AML.powerButton(),
            ]),
        ])
        return try ACPITableSet(base: base, fadt: fadt, dsdt: dsdt, tables: [MADT.kvm(cpuCount: cpuCount)])
    }
}
