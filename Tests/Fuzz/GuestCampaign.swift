import DeviceBus
import EmulatedCPL0Fallbacks
import KVM
import KVMBindings
import X86Setup

/// Random guests: random instruction bytes and register and segment state, run under the runtime
/// on a `boot`-like machine until a typed exit or error, or until the run limiter stops them.
///
/// One VM serves up to `recycle` cases (memory zeroed, tables, registers and segments rewritten for
/// each); it is replaced sooner after a run error, an entry failure, an internal error or a shutdown,
/// since KVM's in-kernel state (LAPIC, PIT, MSRs) may then differ from a fresh VM's.
final class GuestCampaign: Campaign {
    let mode: GuestMode
    let system: KVMSystem
    let cpuid: CPUIDEntries
    let limiter = RunLimiter()
    let runMilliseconds: Double
    let maximumExits: Int
    let recycle: Int
    private var machine: FuzzMachine?
    private var casesOnMachine = 0

    // Figures.
    private var runs = 0
    private var limitStops = 0
    private var machinesCreated = 0
    private var totalNanoseconds: UInt64 = 0
    private var slowestStop: UInt64 = 0
    private var exitsHandled = 0
    private var stringIOExits = 0
    private var fallbacks = 0

    static let idtAddress: UInt64 = 0x5000
    static let stubs64: UInt64 = 0x6000
    static let stubs16Segment: UInt16 = 0x700
    static let kernelStackTop: UInt64 = 0x9000

    init(mode: GuestMode, settings: CampaignSettings) throws {
        self.mode = mode
        system = try KVMSystem()
        cpuid = try system.supportedCPUID()
        runMilliseconds = settings.double("run-ms", default: 3)
        maximumExits = settings.int("max-exits", default: 64)
        recycle = settings.int("recycle", default: 200)
    }

    func describe(iteration: Int, random: inout FuzzRandom) -> String {
        GuestProgram(mode: mode, random: &random).json
    }

    func figures() -> [(String, String)] {
        let mean = runs == 0 ? 0 : Double(totalNanoseconds) / Double(runs) / 1000
        return [
            ("mean-case-us", String(Int(mean))),
            ("stopped-at-time-limit", String(limitStops)),
            ("setting-time-limit-ms", String(runMilliseconds)),
            ("slowest-stop-us", String(slowestStop / 1000)),
            ("exits-answered-by-bus", String(exitsHandled)),
            ("string-io-exits", String(stringIOExits)),
            ("kernel-instruction-fallbacks", String(fallbacks)),
            ("vms-created", String(machinesCreated)),
        ]
    }

    func finish() throws { limiter.shutdown() }

    /// The exception stubs: vector v reports itself on the harness port, then halts.
    static func stub64(_ vector: UInt8) -> [UInt8] {
        [0xBA, 0xFF, 0x05, 0x00, 0x00, 0xB0, vector, 0xEE, 0xF4] + [UInt8](repeating: 0xF4, count: 7)
    }
    static func stub16(_ vector: UInt8) -> [UInt8] { [0xBA, 0xFF, 0x05, 0xB0, vector, 0xEE, 0xF4, 0xF4] }

    static let idtBytes: [UInt8] = {
        var idt = InterruptDescriptorTable()
        for vector in 0...255 {
            // int3 and into may be used from CPL3 (DPL 3), like an OS's IDT.
            idt[UInt8(vector)] = .interrupt(
                handler: stubs64 + UInt64(vector) * 16, selector: LongModeSetup.kernelCodeSelector,
                privilegeLevel: vector == 3 || vector == 4 ? 3 : 0)
        }
        return idt.bytes
    }()

    func run(iteration: Int, random: inout FuzzRandom) throws -> String {
        let program = GuestProgram(mode: mode, random: &random)
        currentProgram = program
        if machine == nil || casesOnMachine >= recycle {
            machine = nil
            machine = try FuzzMachine(system: system, cpuid: cpuid)
            machinesCreated += 1
            casesOnMachine = 0
        }
        let machine = machine!
        casesOnMachine += 1
        runs += 1
        let started = Clock.nanoseconds
        defer { totalNanoseconds += Clock.nanoseconds - started }
        do {
            try prepare(machine, program)
        } catch {
            return "refused: \(errorKey(error))"
        }
        let outcome = execute(machine)
        if outcome.replaceMachine { self.machine = nil }
        return outcome.key
    }

    private func prepare(_ machine: FuzzMachine, _ program: GuestProgram) throws {
        try machine.clearMemory()
        let memory = machine.vm.memory
        var special: KVMSRegs
        let rip: UInt64
        switch mode {
        case .real:
            var ivt: [UInt8] = []
            var stubs: [UInt8] = []
            for vector in 0...255 {
                let offset = UInt16(vector * 8)
                ivt += [UInt8(offset & 0xFF), UInt8(offset >> 8), UInt8(Self.stubs16Segment & 0xFF), UInt8(Self.stubs16Segment >> 8)]
                stubs += Self.stub16(UInt8(vector))
            }
            try memory.write(bytes: ivt, at: GuestAddress(0))
            try memory.write(bytes: stubs, at: GuestAddress(UInt64(Self.stubs16Segment) << 4))
            special = machine.initialSpecialRegisters
            special.cs.selector = program.codeSelector
            special.cs.base = UInt64(program.codeSelector) << 4
            let segments: [WritableKeyPath<KVMSRegs, KVMSegment>] = [\.ds, \.es, \.fs, \.gs, \.ss]
            for (index, path) in segments.enumerated() {
                special[keyPath: path].selector = program.selectors[index]
                special[keyPath: path].base = UInt64(program.selectors[index]) << 4
            }
            rip = program.codeAddress - special.cs.base
        case .long0, .long3:
            let setup = try LongModeSetup.write(into: memory, layout: LongModeSetup.Layout(kernelStackTop: Self.kernelStackTop))
            try memory.write(bytes: Self.idtBytes, at: GuestAddress(Self.idtAddress))
            try memory.write(bytes: (0...255).flatMap { Self.stub64(UInt8($0)) }, at: GuestAddress(Self.stubs64))
            var entry = mode == .long0 ? setup.kernelEntry : setup.userEntry
            entry.idt = DescriptorTableRegister(base: Self.idtAddress, limit: UInt16(Self.idtBytes.count - 1))
            special = entry.applied(to: machine.initialSpecialRegisters)
            special.fs.base = program.fsBase
            special.gs.base = program.gsBase
            if let idt = program.idtMutation {
                special.idt.base = idt.base
                special.idt.limit = idt.limit
            }
            rip = program.codeAddress
        }
        let available = FuzzMachine.ramSize - Int(program.codeAddress)
        // After the program: a report on the harness's end port, so a program that runs off its end
        // finishes at once instead of executing zero bytes until the time limit.
        let end: [UInt8] = mode == .real ? [0xBA, 0xFE, 0x05, 0xEE, 0xF4] : [0xBA, 0xFE, 0x05, 0x00, 0x00, 0xEE, 0xF4]
        try memory.write(bytes: Array((program.code + end).prefix(available)), at: GuestAddress(program.codeAddress))
        program.mutate(&special)
        // A previous case may have left the vCPU halted (hlt waits in the kernel for an interrupt
        // with the in-kernel LAPIC) or with an exception or NMI pending: start each case runnable, with
        // no event pending.
        try machine.vcpu.setMPState(.runnable)
        try machine.vcpu.setEvents(KVMVCPUEvents())
        try machine.vcpu.setSpecialRegisters(special)
        try machine.vcpu.setRegisters(program.registers(rip: rip))
    }

    private struct Outcome {
        var key: String
        var replaceMachine = false
    }

    /// Where a stopped guest was: in its program, in the harness's code, or elsewhere.
    private func where_(_ vcpu: VCPU) -> String {
        guard let registers = try? vcpu.registers(), let special = try? vcpu.specialRegisters() else { return "state unreadable" }
        let linear = mode == .real ? special.cs.base &+ (registers.rip & 0xFFFF) : registers.rip
        let halted = (try? vcpu.mpState()) == .halted ? ", halted" : ""
        if linear >= currentProgram.codeAddress && linear < currentProgram.codeAddress + UInt64(currentProgram.code.count) {
            return "in the program\(halted)"
        }
        if linear >= currentProgram.codeAddress + UInt64(currentProgram.code.count) && linear < currentProgram.codeAddress + UInt64(currentProgram.code.count) + 8 {
            return "at its end\(halted)"
        }
        if (0x6000..<0x8000).contains(linear) { return "in an exception stub\(halted)" }
        return "elsewhere\(halted)"
    }

    private var currentProgram = GuestProgram.placeholder

    private func execute(_ machine: FuzzMachine) -> Outcome {
        let vcpu = machine.vcpu
        limiter.arm(vcpu.stopper, milliseconds: runMilliseconds)
        let armedAt = Clock.nanoseconds
        var exits = 0
        var last = "none"
        func finish(_ outcome: Outcome) -> Outcome {
            let fired = limiter.disarm()
            if fired {
                limitStops += 1
                let late = Clock.nanoseconds - armedAt
                let limit = UInt64(runMilliseconds * 1e6)
                if late > limit { slowestStop = max(slowestStop, late - limit) }
            }
            // A stop the limiter sent after the last exit is still pending: take it now (run() returns
            // .stopped before entering the guest), so it cannot cut the next case short.
            if vcpu.stopper.isStopRequested { _ = try? vcpu.run() }
            return outcome
        }
        while true {
            let exit: VCPUExit
            do {
                exit = try vcpu.run()
            } catch {
                return finish(Outcome(key: "run error: \(errorKey(error))", replaceMachine: true))
            }
            switch exit {
            case .io(let io):
                if io.port == FuzzMachine.harnessPort && io.direction == .out && io.count == 1 {
                    return finish(Outcome(key: "exception #\(io.value & 0xFF)"))
                }
                if io.port == FuzzMachine.endPort && io.direction == .out && io.count == 1 {
                    return finish(Outcome(key: "ran to the end of the program"))
                }
                if io.count > 1 { stringIOExits += 1 }
                last = "io \(io.direction == .out ? "out" : "in") \(hex(io.port))/\(io.size)\(io.count > 1 ? " string" : "")"
                do {
                    let result = try machine.bus.handle(io, on: vcpu)
                    exitsHandled += 1
                    if case .request(let request) = result { return finish(Outcome(key: "machine request: \(request)")) }
                } catch {
                    return finish(Outcome(key: "bus error: \(errorKey(error))"))
                }
            case .mmio(let access):
                exitsHandled += 1
                last = "mmio \(access.isWrite ? "write" : "read")/\(access.length)"
                if case .request(let request) = machine.bus.handle(access, on: vcpu) {
                    return finish(Outcome(key: "machine request: \(request)"))
                }
            case .stopped:
                return finish(Outcome(key: "stopped at the time limit (\(where_(vcpu)))"))
            case .interrupted:
                continue
            case .halt:
                return finish(Outcome(key: "hlt exit"))
            case .shutdown:
                return finish(Outcome(key: "shutdown (triple fault)", replaceMachine: true))
            case .internalError(let error):
                // As `boot` does on this host: complete the kernel instructions KVM's emulator lacks
                // (int3, fwait, ldmxcsr, stmxcsr) in the VMM, with the guest's own IDT, TSS and stack.
                switch KernelInstructionFallback.complete(on: vcpu, memory: machine.vm.memory, instructionBytes: error.instructionBytes) {
                case .delivered:
                    fallbacks += 1
                    last = "fallback: int3 delivered"
                case .completed(let name):
                    fallbacks += 1
                    last = "fallback: \(name)"
                case .notHandled:
                    return finish(Outcome(key: "internal error: \(error.suberror)"))
                case .undeliverable(let reason):
                    return finish(Outcome(key: "internal error: \(error.suberror), fallback undeliverable: \(errorKey(text: reason))"))
                }
            case .failEntry(let reason, _):
                return finish(Outcome(key: "entry failure \(hex(reason))", replaceMachine: true))
            case .systemEvent(let event):
                return finish(Outcome(key: "system event \(event.type)", replaceMachine: true))
            case .exception(let vector, _):
                return finish(Outcome(key: "exception exit #\(vector)", replaceMachine: true))
            case .debug:
                return finish(Outcome(key: "debug exit", replaceMachine: true))
            default:
                return finish(Outcome(key: "exit: \(errorKey(text: String(String(describing: exit).prefix(60))))", replaceMachine: true))
            }
            exits += 1
            if exits >= maximumExits { return finish(Outcome(key: "exit limit (last: \(last))")) }
        }
    }
}
