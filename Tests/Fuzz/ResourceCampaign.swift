import Glibc
import KVM
import KVMBindings
import Synchronization
import X86Setup

/// Resources: VM + vCPU + memory-slot create/destroy cycles (one per case) with the process's open
/// file descriptors and resident memory sampled at the start, middle and end, which must stay flat;
/// then, once per batch (in `finish`): guest RAM larger than the host can give and memory slots past
/// KVM's limit, which must be typed errors; and four vCPUs on four threads under concurrent stops,
/// irqfd injection and ioeventfd for a fixed time, with a watchdog (no deadlock) and every stop
/// answered (no lost stop).
final class ResourceCampaign: Campaign {
    let system: KVMSystem
    let stressSeconds: Double
    let rssBoundKiB: Int
    let expectedCycles: Int
    private var cycles = 0
    private var samples: [(name: String, cycle: Int, fds: Int, rssKiB: Int)] = []
    private var lastCycleAt = Clock.seconds
    private var extraFigures: [(String, String)] = []
    private var started = Clock.seconds
    /// Cycles before the first sample: the first VMs allocate the runtime's and KVM's one-time state.
    static let warmUp = 20

    init(settings: CampaignSettings) throws {
        system = try KVMSystem()
        stressSeconds = settings.double("stress-seconds", default: 5)
        rssBoundKiB = settings.int("rss-bound-kib", default: 4096)
        expectedCycles = settings.int("cycles", default: 0)
    }

    static func openFileDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(directory) }
        var count = 0
        while readdir(directory) != nil { count += 1 }
        return count - 3  // ".", ".." and the directory's own descriptor
    }

    static func residentKiB() -> Int {
        guard let file = fopen("/proc/self/statm", "r") else { return -1 }
        defer { fclose(file) }
        var size = 0, resident = 0
        // SAFETY: the pointers are to the two locals, alive for the call.
        guard withUnsafeMutablePointer(to: &size, { s in withUnsafeMutablePointer(to: &resident) { r in vfscanf_wrapper(file, s, r) } }) else { return -1 }
        return resident * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
    }

    func describe(iteration: Int, random: inout FuzzRandom) -> String {
        "{\"cycle\": \(iteration), \"vm\": {\"memory\": \"2 MiB in slot 0\", \"vcpus\": 1}}"
    }

    func run(iteration: Int, random: inout FuzzRandom) throws -> String {
        do {
            let vm = try system.createVM()
            try vm.mapMemory(slot: 0, at: 0, size: 2 << 20)
            let vcpu = try vm.createVCPU(id: 0)
            _ = try vcpu.registers()
        }
        cycles += 1
        if cycles == Self.warmUp || (expectedCycles > 2 * Self.warmUp && cycles == expectedCycles / 2) {
            samples.append((cycles == Self.warmUp ? "start" : "middle", cycles, Self.openFileDescriptors(), Self.residentKiB()))
        }
        lastCycleAt = Clock.seconds
        if cycles == Self.warmUp { started = Clock.seconds }
        return "cycle completed"
    }

    func figures() -> [(String, String)] {
        var list: [(String, String)] = [("cycles", String(cycles))]
        if cycles > Self.warmUp {
            list.append(("mean-cycle-us", String(Int((lastCycleAt - started) / Double(cycles - Self.warmUp) * 1e6))))
        }
        for sample in samples {
            list.append(("last-fds-\(sample.name)", "\(sample.fds) (after cycle \(sample.cycle))"))
            list.append(("last-rss-kib-\(sample.name)", String(sample.rssKiB)))
        }
        return list + extraFigures
    }

    func finish() throws {
        samples.append(("end", cycles, Self.openFileDescriptors(), Self.residentKiB()))
        var problems: [String] = []
        if let first = samples.first, let last = samples.last, cycles > Self.warmUp {
            if last.fds > first.fds { problems.append("open file descriptors grew from \(first.fds) to \(last.fds) over \(cycles) cycles") }
            if last.rssKiB - first.rssKiB > rssBoundKiB {
                problems.append("RSS grew from \(first.rssKiB) KiB to \(last.rssKiB) KiB over \(cycles) cycles (bound \(rssBoundKiB) KiB)")
            }
        }
        problems += oversizedMemory()
        problems += slotLimit()
        problems += stress()
        if !problems.isEmpty { throw Violation(problems.joined(separator: "; ")) }
    }

    // MARK: Limits

    /// Guest RAM larger than the host has (RAM and swap): a typed error
    /// (`KVMRuntimeError.hostMemoryExceeded`) at every size, rather than a lazy mapping that would leave
    /// a guest touching it to the OOM killer; with `allowsOvercommit` the runtime maps what the address
    /// space holds, and past what mmap or KVM accept the error must still be typed.
    private func oversizedMemory() -> [String] {
        let physical = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
        var results: [String] = []
        var problems: [String] = []
        for size in [physical * 4, 1 << 40, 1 << 44, 1 << 47, Int.max - 4095, Int.max] {
            for overcommit in [false, true] {
                var backing = MemoryBacking.anonymous
                backing.allowsOvercommit = overcommit
                do {
                    let vm = try system.createVM()
                    try vm.mapMemory(slot: 0, at: 0, size: size, backing: backing)
                    // One page at the top, to show the mapping is real.
                    try vm.memory.write(bytes: [1], at: GuestAddress(UInt64(size - 1)))
                    results.append("\(size >> 30) GiB\(overcommit ? " (overcommit)" : ""): accepted (lazy)")
                    if !overcommit { problems.append("\(size >> 30) GiB of guest RAM was mapped on a host with \(physical >> 30) GiB") }
                } catch {
                    results.append("\(size >> 30) GiB\(overcommit ? " (overcommit)" : ""): \(error)")
                    // hostMemoryExceeded, or invalidArgument where the size cannot even be rounded to pages.
                    if !(error is KVMRuntimeError) { problems.append("\(size >> 30) GiB: untyped error \(error)") }
                }
            }
        }
        extraFigures.append(("last-oversized-ram", results.joined(separator: " | ")))
        // Huge pages are reserved when mapped: more than the host has must fail at once, typed.
        do {
            let vm = try system.createVM()
            try vm.mapMemory(slot: 0, at: 0, size: physical * 4, backing: MemoryBacking(source: .hugeTLB(pageSize: .twoMiB)))
            problems.append("\((physical * 4) >> 30) GiB of 2 MiB huge pages were accepted on a host with \(physical >> 30) GiB")
        } catch {
            extraFigures.append(("last-oversized-hugetlb", "\((physical * 4) >> 30) GiB: \(error)"))
        }
        return problems
    }

    /// Slots up to KVM_CAP_NR_MEMSLOTS - 1 work; the slot past the limit, and a second mapping of the
    /// same guest range, are typed errors.
    private func slotLimit() -> [String] {
        var problems: [String] = []
        do {
            let limit = try system.checkExtension(.nrMemslots)
            let vm = try system.createVM()
            try vm.mapMemory(slot: UInt32(limit - 1), at: 0, size: 4096)
            var outcomes: [String] = ["slot \(limit - 1) of \(limit) mapped"]
            for (slot, address) in [(UInt32(limit), UInt64(0x10_0000)), (UInt32.max, 0x20_0000), (0, 0)] {
                do {
                    try vm.mapMemory(slot: slot, at: GuestAddress(address), size: 4096)
                    problems.append("slot \(slot) at \(hex(address)) was accepted past KVM's limit of \(limit) slots or overlapping")
                } catch {
                    outcomes.append("slot \(slot) at \(hex(address)): \(error)")
                }
            }
            extraFigures.append(("last-slot-limit", outcomes.joined(separator: " | ")))
        } catch {
            problems.append("slot limit check: \(error)")
        }
        return problems
    }

    // MARK: Four vCPUs under stops, irqfd and ioeventfd

    private final class Shared: Sendable {
        let quit = Atomic<Bool>(false)
        let stopped = Mutex<[Int]>([0, 0, 0, 0])
        let otherExits = Atomic<Int>(0)
        let ready = Atomic<Int>(0)
        let stoppers = Mutex<[Int: VCPUStopper]>([:])
        let failure = Mutex<String?>(nil)
        let counters = Mutex<[UInt64]>([0, 0, 0, 0])
    }

    static let ioEventBase: UInt64 = 0x3000_0000

    private func stress() -> [String] {
        let shared = Shared()
        let vm: VirtualMachine
        var ioEvents: [EventFD] = []
        let irq: EventFD
        do {
            vm = try system.createVM()
            try? vm.setTSSAddress(0xFFFB_D000)
            try vm.createIRQChip()
            try vm.createPIT2(options: .speakerDummy)
            try vm.mapMemory(slot: 0, at: 0, size: 4 << 20)
            let setup = try LongModeSetup.write(into: vm.memory)
            // Per vCPU at CPL3: rax counts; `mov [rbx], eax` to its own ioeventfd address (no memory slot
            // there: MMIO), then `jmp` back: no exit to the VMM unless the ioeventfd misses. (A CPL3
            // `out` takes #GP here, even at IOPL 3, so the ioeventfds are MMIO ones.)
            for cpu in 0..<4 {
                let code: [UInt8] = [0x48, 0xFF, 0xC0, 0x89, 0x03, 0xEB, 0xF9]  // inc rax; mov [rbx], eax; jmp -7
                try vm.memory.write(bytes: code, at: GuestAddress(0x10_0000 + UInt64(cpu) * 0x1000))
                ioEvents.append(try vm.makeIOEventFD(at: .memory(GuestAddress(Self.ioEventBase + UInt64(cpu) * 8)), length: 4))
            }
            irq = try vm.makeIRQFD(gsi: 5)
            let entry = setup.userEntry
            let cpuid = try system.supportedCPUID()
            let threads = (0..<4).map { cpu in
                FuzzThread {
                    do {
                        let vcpu = try vm.createVCPU(id: UInt(cpu))
                        try vcpu.setCPUID(cpuid)
                        try vcpu.setSpecialRegisters(entry.applied(to: try vcpu.specialRegisters()))
                        var registers = KVMRegs()
                        registers.rip = 0x10_0000 + UInt64(cpu) * 0x1000
                        registers.rsp = 0x20_0000
                        registers.rbx = Self.ioEventBase + UInt64(cpu) * 8
                        registers.rflags = 0x2
                        try vcpu.setRegisters(registers)
                        // Application processors wait for INIT/SIPI with the in-kernel irqchip: start them.
                        try vcpu.setMPState(.runnable)
                        shared.stoppers.withLock { $0[cpu] = vcpu.stopper }
                        shared.ready.add(1, ordering: .sequentiallyConsistent)
                        while !shared.quit.load(ordering: .sequentiallyConsistent) {
                            switch try vcpu.run() {
                            case .stopped: shared.stopped.withLock { $0[cpu] += 1 }
                            case .interrupted: break
                            case .mmio(let access) where access.address.rawValue == Self.ioEventBase + UInt64(cpu) * 8:
                                shared.otherExits.add(1, ordering: .relaxed)  // ioeventfd missed: answer and go on
                            case let exit:
                                let registers = try? vcpu.registers()
                                let special = try? vcpu.specialRegisters()
                                let events = try? vcpu.events()
                                shared.failure.withLock {
                                    $0 = $0 ?? "vCPU \(cpu): unexpected exit \(exit) at rip \(hex(registers?.rip ?? 0)) cs \(hex(special?.cs.selector ?? 0)) rax \(registers?.rax ?? 0) events \(String(describing: events))"
                                }
                                return
                            }
                        }
                        let rax = try vcpu.registers().rax
                        shared.counters.withLock { $0[cpu] = rax }
                    } catch {
                        shared.failure.withLock { $0 = $0 ?? "vCPU \(cpu): \(error)" }
                    }
                }
            }
            defer { for thread in threads { thread.join() } }
            while shared.ready.load(ordering: .sequentiallyConsistent) < 4 {
                if shared.failure.withLock({ $0 }) != nil { break }
                Clock.sleep(microseconds: 1000)
            }
            let stoppers = shared.stoppers.withLock { $0 }
            if let failure = shared.failure.withLock({ $0 }) {
                shared.quit.store(true, ordering: .sequentiallyConsistent)
                for stopper in stoppers.values { stopper.stop() }
                return ["stress setup: \(failure)"]
            }
            // Two stoppers (vCPUs 0-1 and 2-3) concurrently: each stop must be answered by a .stopped
            // within a second. An injector writes the irqfd every 100 µs.
            let deadline = Clock.seconds + stressSeconds
            let stopsIssued = Atomic<Int>(0)
            let lost = Mutex<[String]>([])
            let latencyMax = Atomic<Int>(0)
            let stopperThreads = [[0, 1], [2, 3]].map { group in
                FuzzThread {
                    var turn = 0
                    while Clock.seconds < deadline {
                        let cpu = group[turn % 2]
                        turn += 1
                        let before = shared.stopped.withLock { $0[cpu] }
                        let sent = Clock.nanoseconds
                        stoppers[cpu]!.stop()
                        stopsIssued.add(1, ordering: .relaxed)
                        while shared.stopped.withLock({ $0[cpu] }) == before {
                            if Clock.nanoseconds - sent > 1_000_000_000 {
                                lost.withLock { $0.append("vCPU \(cpu): a stop was not answered within 1 s") }
                                break
                            }
                            sched_yield()
                        }
                        let latency = Int((Clock.nanoseconds - sent) / 1000)
                        var current = latencyMax.load(ordering: .relaxed)
                        while latency > current {
                            let (exchanged, original) = latencyMax.compareExchange(expected: current, desired: latency, ordering: .relaxed)
                            if exchanged { break }
                            current = original
                        }
                        Clock.sleep(microseconds: 200)
                    }
                }
            }
            let irqWrites = Atomic<Int>(0)
            let injector = FuzzThread {
                while Clock.seconds < deadline {
                    if (try? irq.write(1)) != nil { irqWrites.add(1, ordering: .relaxed) }
                    Clock.sleep(microseconds: 100)
                }
            }
            for thread in stopperThreads { thread.join() }
            injector.join()
            shared.quit.store(true, ordering: .sequentiallyConsistent)
            // Stop until every vCPU thread has seen `quit` (a stop sent just before may already be used).
            let joinDeadline = Clock.seconds + 10
            while shared.counters.withLock({ $0.contains(0) }) && Clock.seconds < joinDeadline && shared.failure.withLock({ $0 }) == nil {
                for stopper in stoppers.values { stopper.stop() }
                Clock.sleep(microseconds: 2000)
            }
            let counters = shared.counters.withLock { $0 }
            var problems = lost.withLock { $0 }
            if let failure = shared.failure.withLock({ $0 }) { problems.append(failure) }
            if counters.contains(0) { problems.append("a vCPU thread did not finish within 10 s of the end (deadlock?): guest counters \(counters)") }
            var signals: [UInt64] = []
            for event in ioEvents { signals.append((try? event.read()) ?? 0) }
            if signals.contains(0) && stressSeconds >= 1 { problems.append("an ioeventfd never fired: \(signals)") }
            let answered = shared.stopped.withLock { $0 }
            extraFigures += [
                ("last-stress-seconds", String(stressSeconds)),
                ("last-stress-stops-issued", String(stopsIssued.load(ordering: .relaxed))),
                ("last-stress-stops-answered", String(answered.reduce(0, +))),
                ("last-stress-slowest-stop-us", String(latencyMax.load(ordering: .relaxed))),
                ("last-stress-irqfd-writes", String(irqWrites.load(ordering: .relaxed))),
                ("last-stress-ioeventfd-signals", signals.map(String.init).joined(separator: "/")),
                ("last-stress-ioeventfd-missed-exits", String(shared.otherExits.load(ordering: .relaxed))),
                ("last-stress-guest-iterations", counters.map(String.init).joined(separator: "/")),
            ]
            return problems
        } catch {
            shared.quit.store(true, ordering: .sequentiallyConsistent)
            for stopper in shared.stoppers.withLock({ $0 }).values { stopper.stop() }
            return ["stress: \(error)"]
        }
    }
}

/// Reads the first two numbers of /proc/self/statm.
private func vfscanf_wrapper(_ file: UnsafeMutablePointer<FILE>, _ size: UnsafeMutablePointer<Int>, _ resident: UnsafeMutablePointer<Int>) -> Bool {
    var buffer = [CChar](repeating: 0, count: 128)
    guard fgets(&buffer, 128, file) != nil else { return false }
    let length = buffer.firstIndex(of: 0) ?? buffer.count
    let fields = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: " ")
    guard fields.count >= 2, let s = Int(fields[0]), let r = Int(fields[1]) else { return false }
    size.pointee = s
    resident.pointee = r
    return true
}
