// boot: a Linux VMM on the KVM runtime, small enough to read in one sitting.
//
// How it boots a kernel, file by file:
//
// 1. Options.swift parses `--kernel PATH [--initrd PATH] [--cmdline STR] [--memory MiB] [--cpus N]
//    [--decompress host|guest] [--huge-pages] [--prefault] [--timeout SECONDS]
//    [--cpuid-clear LEAF.REG.BIT]... [--profile-guest MS [--symbols PATH]]` by hand.
// 2. Below: open /dev/kvm, create the VM with KVM's in-kernel irqchip (PIC, IOAPIC, one LAPIC per vCPU)
//    and PIT, and back guest RAM with memory slots laid out by LinuxLoader's MemoryMap (RAM below 640 KiB and from
//    1 MiB, the EBDA and BIOS area reserved, a hole below 4 GiB for the IOAPIC and LAPICs); with
//    `--huge-pages` / `--prefault` on transparent huge pages / populated up front (GuestRAMBacking.swift).
// 3. Devices.swift puts the devices on the I/O bus (DeviceBus, LegacyDevices: COM1, i8042, CMOS RTC,
//    ACPI power control, isa-debug-exit) and describes them with ACPITables: RSDP → XSDT → FADT
//    (hardware-reduced, with reset and sleep registers) → DSDT (`\_S5_`, COM1, power button) and the
//    MADT (a LAPIC per vCPU, the IOAPIC), so Linux finds every vCPU and can power off.
// 4. KernelLoader.swift hands the kernel to the LinuxLoader product: a bzImage (the zero page with
//    e820, command line and initrd), an ELF vmlinux with a PVH note (start_info, memmap, initrd module;
//    32-bit entry, EBX = start_info) or a multiboot kernel (EAX = 0x2BADB002, EBX = the multiboot
//    information). A bzImage's compressed kernel is decompressed by the VMM when it knows the format
//    (LZ4, gzip, xz, zstd): the kernel ELF's segments go to their physical addresses and the vCPU starts
//    at its startup_64 in 64-bit mode with RSI = zero page, as the kernel's own decompressor would leave
//    it. Otherwise, or with `--decompress guest`, the protected-mode code is loaded whole and entered at
//    load + 0x200 (the 64-bit boot protocol), and the kernel decompresses itself: a fraction of a second
//    on hardware virtualization, minutes where KVM emulates kernel code. A line on stderr says which path
//    was taken. Files are read straight into guest memory.
// 5. X86Setup's CPUIDPolicy gives each vCPU the host's supported CPUID with its own APIC id and topology, minus
//    the bits `--cpuid-clear` names and those the EmulatedCPL0Fallbacks product's EmulatorProbe finds
//    this host's KVM cannot run at CPL0 (on hosts where KVM emulates kernel code; hardware
//    virtualization passes every probe). The same probe says whether a user-mode `syscall` arrives in
//    kernel mode; where it does not, every vCPU runs that product's UserModeFixup.
// 6. Machine.swift starts one thread per vCPU (RunLoop.swift); X86Setup's LinuxBootGDT, PageTableBuilder and
//    EntryState (KernelLoader.swift) set GDT, page tables and control registers; X86Setup's BootMSRs, FPUDefaults and LocalAPICSetup the MSRs, FPU
//    and the LAPIC's LINT pins. vCPU 0 starts at the kernel's entry; the
//    others wait in KVM for the INIT/SIPI Linux sends through the in-kernel LAPIC.
// 7. Exits are answered in RunLoop.swift through the bus: COM1 (IRQ 4) prints to stdout through
//    Console.swift, which also feeds it stdin; the i8042 reset command, the ACPI S5 and reset
//    registers, a triple fault after "reboot: Restarting system" and KVM's system events end the run
//    cleanly; a write to the isa-debug-exit port ends it with status (value << 1) | 1. Where KVM's emulator cannot
//    run a kernel int3, the #BP is delivered through the guest's IDT, and an fwait is stepped over
//    (KernelInstructionFallback, in EmulatedCPL0Fallbacks). Any other failure prints the registers and the instruction bytes at
//    RIP (X86Setup's VCPUStateReport, through the guest's page tables) and ends the run with status 1.
// 8. `--timeout` stops every vCPU and reports where each one was; `--report-memory` prints the VMM's
//    resident memory minus the guest's (the runtime's VMMMemoryUsage); `--profile-guest MS [--symbols System.map]`
//    samples every vCPU's RIP and prints where the guest spent its time (the runtime's GuestProfiler); `--dry-run` prints what would be booted
//    and the structures written for it, without /dev/kvm (DryRun.swift).
//
// Exit status: 0 the guest powered off or reset, 1 guest failure or kernel panic, 2 usage error,
// 3 host or load error, 124 timeout, (value << 1) | 1 the guest wrote value to isa-debug-exit.

import EmulatedCPL0Fallbacks
import Glibc
import KVM
import KVMBindings
import LinuxLoader
import X86Setup

func fatal(_ message: String, status: Int32) -> Never {
    Messages.printError("boot: " + message)
    exit(status)
}

let options: Options
do {
    options = try Options(arguments: Array(CommandLine.arguments.dropFirst()))
} catch {
    if !error.description.isEmpty { Messages.printError("boot: \(error.description)") }
    Messages.printError(Options.usage)
    exit(error.description.isEmpty ? 0 : 2)
}

/// A System.map for `--profile-guest`.
func symbolTable(path: String) throws -> GuestSymbolTable {
    let file = try ImageFile(path: path)
    guard let bytes = file.bytes(at: 0, count: file.size) else { throw ImageError.readFailed(path: path, errno: 0) }
    return GuestSymbolTable(systemMap: String(decoding: bytes, as: UTF8.self))
}

func verbose(_ message: @autoclosure () -> String) {
    if options.verbose { Messages.printError("boot: " + message()) }
}

if options.probeOnly {
    do {
        let system = try KVMSystem()
        let probe = EmulatorProbe.run(system: system, supported: try system.supportedCPUID())
        print((probe?.kernelParameters ?? []).joined(separator: " "))
        if let probe { Messages.printError("boot: \(probe.userSyscall)") }
        exit(0)
    } catch {
        fatal("\(error)", status: 3)
    }
}

if options.dryRun {
    do {
        let map = MemoryMap(ramSize: UInt64(options.memoryMiB) << 20)
        let memory = try DryRun.memory(for: map)
        let acpi = try BootDevices.acpiTables(base: GuestLayout.acpiBase, cpuCount: options.cpus)
        let kernel = try ImageFile(path: options.kernelPath)
        let initrd = try options.initrdPath.map { path throws in try ImageFile(path: path) }
        let plan = try BootKernel.load(
            kernel: kernel, initrd: initrd, commandLine: options.commandLine, memory: memory, map: map, acpi: acpi,
            decompression: options.decompression)
        if !plan.decompressionNote.isEmpty { Messages.printError("boot: " + plan.decompressionNote) }
        print(DryRun.report(plan: plan, memory: memory, map: map, acpi: acpi, commandLine: options.commandLine))
        exit(0)
    } catch {
        fatal("\(error)", status: 3)
    }
}

let machine: Machine
do {
    let system = try KVMSystem()
    let supportedCPUID = try system.supportedCPUID()

    // CPUID policy: the user's clears, plus what this host's KVM cannot emulate at CPL0.
    var cpuid = CPUIDPolicy(clears: options.cpuidClears)
    var commandLine = options.commandLine
    var userModeFixup = false
    if options.probeEmulator {
        let started = monotonicNow()
        if let probe = EmulatorProbe.run(system: system, supported: supportedCPUID) {
            cpuid.clears = probe.defaultClears + cpuid.clears
            userModeFixup = probe.needsUserModeFixup && options.emulationFallback
            commandLine = probe.commandLine(adding: commandLine)
            let failed = probe.failed.isEmpty ? "none" : probe.failed.joined(separator: ", ")
            verbose("emulator probe (\(Int((monotonicNow() - started) * 1e3)) ms): KVM cannot run at CPL0: \(failed); \(probe.userSyscall)"
                + (probe.userCPUIDIsNative ? "; user-mode cpuid reports the host's features" : ""))
        }
    }
    if !cpuid.clears.isEmpty { verbose("CPUID bits cleared: " + cpuid.clears.map(\.description).joined(separator: " ")) }

    let vm = try system.createVM()
    try? vm.setTSSAddress(0xFFFB_D000)  // Intel: three pages KVM needs for real mode; unused elsewhere
    try vm.createIRQChip()
    try vm.createPIT2(options: .speakerDummy)  // port 0x61 handled in the kernel too

    let map = MemoryMap(ramSize: UInt64(options.memoryMiB) << 20)
    for (slot, range) in map.slots.enumerated() {
        try vm.mapMemory(slot: UInt32(slot), at: GuestAddress(range.address), size: Int(range.size))
    }
    let backingStarted = monotonicNow()
    for refusal in GuestRAMBacking.apply(to: vm.memory, hugePages: options.hugePages, prefault: options.prefault) {
        Messages.printError("boot: guest RAM: \(refusal)")
    }
    if options.prefault { verbose("guest RAM prefaulted in \(Int((monotonicNow() - backingStarted) * 1000)) ms") }
    verbose("e820: " + map.entries.map(\.description).joined(separator: ", "))
    let acpi = try BootDevices.acpiTables(base: GuestLayout.acpiBase, cpuCount: options.cpus)
    verbose("ACPI: " + acpi.tables.map { "\($0.signature) \(hex($0.address))" }.joined(separator: ", "))

    let kernel = try ImageFile(path: options.kernelPath)
    let initrd = try options.initrdPath.map { path throws in try ImageFile(path: path) }
    let plan = try BootKernel.load(
        kernel: kernel, initrd: initrd, commandLine: commandLine, memory: vm.memory, map: map, acpi: acpi,
        decompression: options.decompression)
    if !plan.decompressionNote.isEmpty { Messages.printError("boot: " + plan.decompressionNote) }
    verbose(plan.summary)
    verbose("command line: \(commandLine)")

    let console = Console()
    let (bus, uart) = try BootDevices.bus(vm: vm, console: console)
    let profiler = try options.profileIntervalMilliseconds.map { interval throws in
        GuestProfiler(intervalMilliseconds: interval, symbols: try options.symbolsPath.map { path throws in try symbolTable(path: path) })
    }
    machine = Machine(
        vm: vm, console: console, bus: bus, options: options, plan: plan, cpuid: cpuid, supportedCPUID: supportedCPUID,
        supportedMSRs: Set(try system.msrIndexList()), profiler: profiler, userModeFixup: userModeFixup)
    startConsoleInput(uart)
} catch {
    fatal("\(error)", status: 3)
}

let outcome = machine.run()
verbose(machine.statistics.summary)
if let profiler = machine.profiler { Messages.printError("boot: " + profiler.report()) }
if options.reportMemory { Messages.printError("boot: " + VMMMemoryUsage.measure(memory: machine.vm.memory).summary) }

switch outcome {
case .powerOff(let reason), .reset(let reason):
    Messages.printError("boot: \(reason)")
    exit(0)
case .exit(let status, let reason):
    Messages.printError("boot: \(reason)")
    exit(status)
case .guestFailure(let summary, let details):
    Messages.printError("boot: guest failure: \(summary)\n\(details)")
    exit(1)
case .timeout(let seconds):
    var text = "boot: timeout: the guest was still running after \(seconds) s"
    if machine.console.kernelNotices.contains(.panic) { text += " (the kernel had panicked)" }
    for location in machine.stopLocations { text += "\n  \(location)" }
    Messages.printError(text)
    exit(124)
case .hostError(let message):
    fatal(message, status: 3)
}
