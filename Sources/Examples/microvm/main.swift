// microvm: boot Linux, run one command in the guest, stream its output, exit with its status.
//
//   microvm --kernel bzImage --initrd initramfs.cpio -- /bin/busybox echo hello
//
// The shortest complete Linux VMM in the project, assembled from its library products:
// 1. EmulatedCPL0Fallbacks' EmulatorProbe asks this host's KVM what it cannot run at CPL0 (nothing on
//    VMX/SVM, where everything below it stays off); its findings become CPUID clears, kernel parameters
//    and, where a user-mode `syscall` arrives at CPL3, a UserModeFixup on every vCPU (VCPULoop.swift).
// 2. KVM: a VM with the in-kernel irqchip and PIT, RAM laid out by LinuxLoader's MemoryMap.
// 3. Devices on DeviceBus: LegacyDevices' 16550A as COM1 (ttyS0, IRQ 4), the i8042 (`reboot=k` resets
//    through it), the CMOS RTC; virtio-mmio devices (VirtioDevices.swift) with irqfd and ioeventfd.
//    ACPITables: a FADT that is *not* hardware-reduced (so Linux keeps the 8259/ISA IRQs and the UART
//    gets IRQ 4) with LegacyDevices' PM1 registers and SCI behind it, the MADT (a LAPIC per vCPU, the
//    IOAPIC, the SCI's override) and a DSDT with `\_S5_`, COM1 and the virtio devices.
// 4. LinuxLoader loads the kernel, and as initrd the user's followed by an InitramfsArchive holding
//    /microvm/run and /microvm/nonce (GuestCommand.swift), which the test initramfs's /init runs
//    (Scripts/test-kernel/README.md).
// 5. X86Setup: boot GDT, identity page tables, entry state, MSRs, FPU, LAPIC.
// 6. GuestConsole.swift splits the console into kernel log and the command's output by the markers.
// 7. KVM's ExecutableCode keeps microvm's own code resident only where it runs (not with --fault-around).
//
// Exit status: the command's (0-255), or
//   121  the kernel panicked
//   122  the guest ended (reset or power-off) without reporting the command's status
//   123  the guest failed (triple fault, KVM internal error, ...) or the VMM failed while running it
//   124  --timeout expired
//   125  usage error, or the VM could not be set up (no /dev/kvm, unreadable kernel, ...)
// (as with timeout(1), a command may itself exit with one of these.)

import ACPITables
import DeviceBus
import EmulatedCPL0Fallbacks
import Glibc
import KVM
import KVMBindings
import LegacyDevices
import LinuxLoader
import VirtioMMIO
import X86Setup

func fail(_ message: String, status: Int32) -> Never {
    GuestConsole.write(Array("microvm: \(message)\n".utf8), to: 2)
    exit(status)
}

let options: Options
do {
    options = try Options(arguments: Array(CommandLine.arguments.dropFirst()))
} catch {
    if !error.message.isEmpty { GuestConsole.write(Array("microvm: \(error.message)\n".utf8), to: 2) }
    GuestConsole.write(Array((Options.usage + "\n").utf8), to: 2)
    exit(error.message.isEmpty ? 0 : 125)
}
func verbose(_ message: @autoclosure () -> String) {
    if options.verbose { GuestConsole.write(Array("microvm: \(message())\n".utf8), to: 2) }
}

// From here on the kernel maps the executable's code and constants a page at a time as they run,
// instead of 64 KiB around each page touched, and what start-up mapped is unmapped: most of a VMM's
// resident memory is otherwise code it never runs (ExecutableCode). Where the host forbids the first
// (before Linux 6.7, or a seccomp filter without userfaultfd), code comes back 64 KiB at a time.
if !options.faultAround {
    do { try ExecutableCode.disableFaultAround() } catch { verbose("fault-around stays on: \(error)") }
    do { try ExecutableCode.unmapCleanPages() } catch { verbose("microvm's code stays mapped: \(error)") }
}

let nonce = GuestCommand.nonce()
let console = GuestConsole(nonce: nonce, verbose: options.verbose)
let machine: Machine
var transports: [VirtioMMIOTransport] = []
do {
    let system = try KVMSystem()
    let supportedCPUID = try system.supportedCPUID()
    let probe = EmulatorProbe.run(system: system, supported: supportedCPUID)
    let emulatingHost = probe.map { !$0.failed.isEmpty || $0.needsUserModeFixup } ?? false
    var cpuid = CPUIDPolicy()
    cpuid.clears = (probe?.defaultClears ?? []).map { bit in
        CPUIDPolicy.Clear(leaf: bit.leaf, subleaf: bit.subleaf, register: CPUIDPolicy.Register(rawValue: bit.register.rawValue)!, bit: bit.bit)
    }
    if let probe { verbose("emulator probe: cannot run at CPL0: \(probe.failed); \(probe.userSyscall)") }

    let vm = try system.createVM()
    try? vm.setTSSAddress(0xFFFB_D000)  // Intel needs it for real mode; unused otherwise
    try vm.createIRQChip()
    try vm.createPIT2(options: .speakerDummy)
    let map = MemoryMap(ramSize: UInt64(options.memoryMiB) << 20)
    for (slot, range) in map.slots.enumerated() {
        try vm.mapMemory(slot: UInt32(slot), at: GuestAddress(range.address), size: Int(range.size))
    }

    // Devices. The console of the command's choice feeds GuestConsole; COM1 is there either way.
    var bus = MachineBus()
    let com1 = Serial16550A(interrupt: .irqLine(4, of: vm)) { byte in
        if options.console == .ttyS0 { console.receive(CollectionOfOne(byte)) } else if options.verbose { GuestConsole.write([byte], to: 2) }
    }
    try bus.portIO.register(com1, base: 0x3F8, size: Serial16550A.size)
    let i8042 = I8042()
    try bus.portIO.register(i8042.dataPort, base: I8042.dataPortAddress, size: 1)
    try bus.portIO.register(i8042.commandPort, base: I8042.commandPortAddress, size: 1)
    try bus.portIO.register(CMOSRTC(), base: CMOSRTC.baseAddress, size: CMOSRTC.size)
    let pm1Base: UInt16 = 0x600, sciIRQ: UInt32 = 9
    let pm1 = ACPIPM1Registers(sciInterrupt: .irqLine(sciIRQ, of: vm))
    try bus.portIO.register(pm1, base: UInt64(pm1Base), size: ACPIPM1Registers.size)
    let virtio = try VirtioSetup.attach(options: options, console: console, vm: vm, bus: &bus.mmio)
    transports = virtio.transports

    // The command line: what the /init protocol needs, what saves time where kernel code is emulated
    // (Scripts/test-kernel/README.md), the virtio devices, the user's additions, and the probe's findings.
    var commandLine = "console=\(options.console.rawValue) reboot=k panic=-1 quiet noreplace-smp rodata=off percpu_alloc=page"
    if emulatingHost { commandLine += " clearcpuid=erms,fsrm" }
    commandLine += virtio.commandLine.map { " " + $0 }.joined() + (options.append.isEmpty ? "" : " " + options.append)
    if let probe { commandLine = probe.commandLine(adding: commandLine) }
    verbose("command line: \(commandLine)")

    // ACPI: the PC's fixed hardware (PM1 blocks at 0x600, the SCI on IRQ 9, level-triggered and
    // active-high by the MADT's override), so Linux keeps the 8259s and ISA IRQs; a DSDT with `\_S5_`,
    // COM1 and, unless announced on the command line only, the virtio devices (`LNRO0005`).
    let acpiBase = MemoryMap.biosAreaStart
    let fadt = FADT.fixedHardware(
        pm1EventBlock: pm1Base, pm1ControlBlock: pm1Base + UInt16(ACPIPM1Registers.controlBlockOffset), sciInterrupt: UInt16(sciIRQ),
        centuryRegister: CMOSRTC.centuryRegister)
    var devices: [any AMLObject] = [AML.serialPort(name: "COM1", uid: 1, port: 0x3F8, irq: 4)]
    if options.virtioAnnouncement != .cmdline {
        for (index, placement) in virtio.placements.enumerated() {
            devices.append(AML.virtioMMIO(
                name: "V" + String(index + 1000).dropFirst(), uid: index, address: UInt32(placement.base), size: UInt32(placement.size),
                gsi: placement.gsi))
        }
    }
    let dsdt = DefinitionBlock.dsdt([AML.sleepState5(type: pm1.s5SleepType), AML.Scope("\\_SB_", devices)])
    let madt = MADT.kvm(cpuCount: options.cpus, overrides: [(source: UInt8(sciIRQ), gsi: sciIRQ, flags: [.activeHigh, .levelTriggered])])
    let acpi = try ACPITableSet(base: acpiBase, fadt: fadt, dsdt: dsdt, tables: [madt])
    try vm.memory.write(bytes: acpi.blob, at: GuestAddress(acpiBase))

    let initrdParts: [any ImageSource] = try (options.initrd.map { [try ImageFile(path: $0)] } ?? [])
        + [ImageBytes(try GuestCommand.archive(command: options.command, nonce: nonce))]
    let loader = KernelLoader(memoryMap: map, decompression: .host(.standard), rsdpAddress: GuestAddress(acpi.rsdpAddress))
    let loaded = try loader.load(
        kernel: try ImageFile(path: options.kernel), initrd: ConcatenatedImage(initrdParts), commandLine: commandLine, into: vm.memory)

    // The boot GDT, an empty IDT and identity page tables, below 1 MiB (LinuxLoader's BootProcessorLayout).
    let processor = try loaded.prepareBootProcessor(into: vm.memory)
    machine = Machine(
        vm: vm, bus: bus, console: console, cpuid: cpuid, supportedCPUID: supportedCPUID,
        supportedMSRs: Set(try system.msrIndexList()), cpuCount: options.cpus,
        userModeFixup: probe?.needsUserModeFixup ?? false, emulatingHost: emulatingHost, entry: processor.special, entryRegisters: processor.registers)
} catch {
    fail("\(error)", status: 125)
}

// The machine is set up: unmap the code that only set it up (what runs the guest maps itself back).
if !options.faultAround { _ = try? ExecutableCode.unmapCleanPages() }

// Run: one thread per vCPU; this thread watches the clock and the console.
let started = monotonicSeconds()
var threads: [VCPUThread<Void, Never>] = []
for index in 0..<options.cpus {
    do {
        let thread = try machine.vm.spawnVCPU(id: UInt(index), stackSize: 1 << 20) { vcpu in machine.runVCPU(vcpu, index: index) }
        machine.register(thread.stopper)
        threads.append(thread)
    } catch {
        machine.finish(.guestFailure("vCPU \(index): \(error)"))
    }
}
var exitedAt: Double?
while machine.ending == nil {
    usleep(20_000)
    let now = monotonicSeconds()
    if let timeout = options.timeout, now - started >= timeout { machine.finish(.timeout) }
    // After the exit marker /init syncs and resets; don't wait on a guest that does not.
    if case .exited = console.phase {
        if exitedAt == nil { exitedAt = now } else if now - exitedAt! > 10 { machine.finish(.reset("no reset 10 s after the exit marker")) }
    }
}
for thread in threads { thread.join() }
for transport in transports { transport.shutdown() }
console.flush()
verbose("ran \(Int((monotonicSeconds() - started) * 10) / 10).\(Int((monotonicSeconds() - started) * 10) % 10) s; \(console.outputBytes) bytes of command output")

/// The kernel log's last lines, for a failure report.
func logTail() -> String {
    let lines = console.log.split(separator: "\n", omittingEmptySubsequences: false).suffix(options.verbose ? 0 : 30)
    return lines.isEmpty ? "" : "\nthe kernel log's last lines:\n" + lines.joined(separator: "\n")
}
let ending = machine.ending!
if case .exited(let status) = console.phase {
    if case .guestFailure(let why) = ending { verbose("after the command exited: \(why)") }
    exit(status)
}
if case .timeout = ending {
    fail("timeout: the guest was still running after \(options.timeout!) s" + (console.panicked ? " (the kernel had panicked)" : "") + logTail(), status: 124)
}
if console.panicked { fail("the guest kernel panicked" + logTail(), status: 121) }
switch ending {
case .guestFailure(let why): fail("guest failure: \(why)" + logTail(), status: 123)
case .reset(let why), .powerOff(let why):
    fail("the guest ended (\(why)) without reporting the command's exit status" + (console.phase == .command ? " (the command had started)" : "") + logTail(), status: 122)
case .timeout: fatalError("handled above")
}
