import DeviceBus
import KVM
import KVMBindings
import LegacyDevices
import Synchronization

/// A machine assembled like `boot`'s: in-kernel irqchip and PIT, RAM in slot 0, one vCPU, and the
/// DeviceBus with COM1 (16550A at 0x3F8, IRQ 4), the i8042, the CMOS RTC, ACPI power control at
/// 0x600 and isa-debug-exit at 0xF4, so that the guest's port I/O and MMIO exits reach real devices.
/// Created on the thread that runs its vCPU.
final class FuzzMachine {
    static let ramSize = 0x10_0000
    /// Where the harness's exception stubs report a vector (`out dx, al` with DX = this port).
    static let harnessPort: UInt16 = 0x5FF
    /// Where the code placed after each random program reports that the program ran to its end.
    static let endPort: UInt16 = 0x5FE

    let vm: VirtualMachine
    let vcpu: VCPU
    let bus: MachineBus
    let uart: Serial16550A
    let rtc: CMOSRTC
    /// The vCPU's special registers just after creation.
    let initialSpecialRegisters: KVMSRegs
    let transmitted = Transmitted()

    final class Transmitted: Sendable {
        let count = Atomic<Int>(0)
    }

    init(system: KVMSystem, cpuid: CPUIDEntries) throws {
        vm = try system.createVM()
        try? vm.setTSSAddress(0xFFFB_D000)
        try vm.createIRQChip()
        try vm.createPIT2(options: .speakerDummy)
        try vm.mapMemory(slot: 0, at: 0, size: Self.ramSize)
        vcpu = try vm.createVCPU(id: 0)
        try vcpu.setCPUID(cpuid)
        initialSpecialRegisters = try vcpu.specialRegisters()
        let transmitted = transmitted
        uart = Serial16550A(interrupt: InterruptLine.irqLine(4, of: vm)) { _ in
            transmitted.count.add(1, ordering: .relaxed)
        }
        rtc = CMOSRTC()
        bus = try Self.bootBus(uart: uart, rtc: rtc)
    }

    /// The port I/O bus of `boot` (Sources/Examples/boot/Devices.swift), around the given UART and RTC.
    static func bootBus(uart: Serial16550A, rtc: CMOSRTC, i8042: I8042 = I8042()) throws -> MachineBus {
        var bus = MachineBus()
        try bus.portIO.register(uart, base: 0x3F8, size: Serial16550A.size)
        try bus.portIO.register(i8042.dataPort, base: I8042.dataPortAddress, size: 1)
        try bus.portIO.register(i8042.commandPort, base: I8042.commandPortAddress, size: 1)
        try bus.portIO.register(rtc, base: CMOSRTC.baseAddress, size: CMOSRTC.size)
        try bus.portIO.register(ACPIPowerControl(), base: 0x600, size: ACPIPowerControl.size)
        try bus.portIO.register(DebugExitPort(), base: DebugExitPort.defaultAddress, size: DebugExitPort.size)
        return bus
    }

    /// Zeroes all of RAM.
    func clearMemory() throws {
        _ = try vm.memory.withUnsafeMutableBytes(at: GuestAddress(0), count: Self.ramSize) { buffer in
            // SAFETY: the buffer is the slot's mapping, exactly `ramSize` bytes, and no vCPU runs now.
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
        }
    }
}

/// Stops the vCPU's `run()` after a time limit: a thread that checks the armed deadline every 500 µs.
/// Arming and disarming take the lock the check holds while it calls `stop()`, so after `disarm()`
/// the caller knows whether a stop was sent (and may still be pending).
final class RunLimiter: Sendable {
    private struct State {
        var deadline: UInt64 = 0
        var stopper: VCPUStopper?
        var fired = false
        var quit = false
    }

    private let state = Mutex(State())
    private let thread = Mutex<FuzzThread?>(nil)

    init() {
        let started = FuzzThread { [self] in loop() }
        thread.withLock { $0 = started }
    }

    private func loop() {
        while true {
            Clock.sleep(microseconds: 500)
            let quit = state.withLock { state -> Bool in
                if state.deadline != 0, Clock.nanoseconds >= state.deadline, let stopper = state.stopper {
                    stopper.stop()
                    state.fired = true
                    state.deadline = 0
                }
                return state.quit
            }
            if quit { return }
        }
    }

    func arm(_ stopper: VCPUStopper, milliseconds: Double) {
        state.withLock { state in
            state.stopper = stopper
            state.fired = false
            state.deadline = Clock.nanoseconds + UInt64(milliseconds * 1e6)
        }
    }

    /// Disarms; returns whether the limit was reached (a stop was sent).
    func disarm() -> Bool {
        state.withLock { state in
            state.deadline = 0
            state.stopper = nil
            return state.fired
        }
    }

    func shutdown() {
        state.withLock { $0.quit = true }
        thread.withLock { $0?.join() }
    }
}

/// A short, bounded-cardinality name for an error: its description with numbers elided, so that
/// outcome keys group by kind.
func errorKey(_ error: any Error) -> String { errorKey(text: "\(error)") }

func errorKey(text original: String) -> String {
    var text = original
    if text.count > 120 { text = String(text.prefix(120)) }
    var out = ""
    var inNumber = false
    var previous: Character = " "
    for character in text {
        let isDigit = character.isHexDigit && (inNumber || character.isNumber)
        if character.isNumber && !inNumber && !(previous.isLetter) { inNumber = true }
        if inNumber && (isDigit || character == "x") {
            previous = character
            continue
        }
        if inNumber { out += "N"; inNumber = false }
        out.append(character)
        previous = character
    }
    if inNumber { out += "N" }
    return out
}
