// boot: a Linux VMM assembled from swift-kvm's products, small enough to read in one sitting.
//
// 1. Options.swift parses the command line by hand (no Foundation: the VMM links fully static).
// 2. Below: the VM with KVM's in-kernel irqchip and PIT; guest RAM in the slots LinuxLoader's MemoryMap
//    lays out (with `--huge-pages` / `--prefault` on THP / populated up front).
// 3. Devices.swift: COM1, i8042, CMOS RTC, ACPI power control and isa-debug-exit on DeviceBus's bus
//    (LegacyDevices), described by ACPITables (RSDP, XSDT, FADT, DSDT, MADT).
// 4. KernelLoader.swift: LinuxLoader loads a bzImage (decompressed on the host when it knows the
//    format: LZ4, gzip, xz, zstd; else, or with `--decompress guest`, by the kernel itself), a PVH
//    vmlinux or a multiboot kernel; X86Setup writes the boot GDT and page tables.
// 5. CPUID: X86Setup's CPUIDPolicy (per-vCPU topology) minus `--cpuid-clear` and what EmulatedCPL0Fallbacks'
//    EmulatorProbe finds this host's KVM cannot run at CPL0 (hosts that emulate kernel code).
// 6. Machine.swift runs a thread per vCPU (the runtime's spawnVCPU); RunLoop.swift sets each vCPU up
//    (X86Setup: entry state, BootMSRs, FPUDefaults, LocalAPICSetup) and answers its exits through the bus,
//    the fallbacks (VCPUFallbacks) first. Console.swift prints COM1 and feeds it stdin.
// 7. The VMM's own code stays resident only where it runs (KVM's ExecutableCode), unless `--fault-around`.
// 8. `--timeout`, `--report-memory` (KVM's VMMMemoryUsage), `--profile-guest MS [--symbols System.map]`
//    (KVM's GuestProfiler) and `--dry-run` (DryRun.swift: what would be booted, without /dev/kvm).
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

// From here on the kernel maps the executable's code and constants a page at a time as they run,
// instead of 64 KiB around each page touched, and what start-up mapped is unmapped: most of a VMM's
// resident memory is otherwise code it never runs (ExecutableCode). Where the host forbids the first
// (before Linux 6.7, or a seccomp filter without userfaultfd), code comes back 64 KiB at a time.
if !options.faultAround {
    do { try ExecutableCode.disableFaultAround() } catch { verbose("fault-around stays on: \(error)") }
    do { try ExecutableCode.unmapCleanPages() } catch { verbose("VMM code stays mapped: \(error)") }
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
        if !plan.loaded.decompressionSummary.isEmpty { Messages.printError("boot: " + plan.loaded.decompressionSummary) }
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
        let started = ConditionLock.monotonicNow()
        if let probe = EmulatorProbe.run(system: system, supported: supportedCPUID) {
            cpuid.clears = probe.defaultClears + cpuid.clears
            userModeFixup = probe.needsUserModeFixup && options.emulationFallback
            commandLine = probe.commandLine(adding: commandLine)
            let failed = probe.failed.isEmpty ? "none" : probe.failed.joined(separator: ", ")
            verbose("emulator probe (\(Int((ConditionLock.monotonicNow() - started) * 1e3)) ms): KVM cannot run at CPL0: \(failed); \(probe.userSyscall)"
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
    // THP and prefaulting are asked for after mapping: a host that refuses either still boots the guest.
    let backingStarted = ConditionLock.monotonicNow()
    for region in vm.memory.regions {
        do { if options.hugePages { try region.mapping.adviseTransparentHugePages() } } catch { Messages.printError("boot: guest RAM: \(error)") }
        do { if options.prefault { try region.mapping.populate() } } catch { Messages.printError("boot: guest RAM: \(error)") }
    }
    if options.prefault { verbose("guest RAM prefaulted in \(Int((ConditionLock.monotonicNow() - backingStarted) * 1000)) ms") }
    verbose("e820: " + map.entries.map(\.description).joined(separator: ", "))
    let acpi = try BootDevices.acpiTables(base: GuestLayout.acpiBase, cpuCount: options.cpus)
    verbose("ACPI: " + acpi.tables.map { "\($0.signature) \(hex($0.address))" }.joined(separator: ", "))

    let kernel = try ImageFile(path: options.kernelPath)
    let initrd = try options.initrdPath.map { path throws in try ImageFile(path: path) }
    let plan = try BootKernel.load(
        kernel: kernel, initrd: initrd, commandLine: commandLine, memory: vm.memory, map: map, acpi: acpi,
        decompression: options.decompression)
    if !plan.loaded.decompressionSummary.isEmpty { Messages.printError("boot: " + plan.loaded.decompressionSummary) }
    verbose(plan.loaded.summary)
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

// The machine is set up: unmap the code that only set it up (what runs the guest maps itself back).
if !options.faultAround { _ = try? ExecutableCode.unmapCleanPages() }
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
