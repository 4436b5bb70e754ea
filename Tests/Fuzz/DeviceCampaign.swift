import DeviceBus
import KVM
import KVMBindings
import LegacyDevices
import Synchronization

/// Hostile device access straight against the bus and the devices: port and MMIO accesses of every
/// size (1-8 and invalid ones) at every register and range boundary, MMIO at unbacked addresses,
/// writes to read-only registers, from four threads at once; and string port I/O with huge counts
/// from a real-mode guest, answered through `MachineBus.handle`.
///
/// Invariants checked on every answer: a claimed read fits its size; an invalid size or an address
/// no device covers is unclaimed (all-ones); machine requests come only from the devices that make
/// them (i8042 reset, ACPI sleep/reset, debug exit); the UART's IIR and LSR are values a 16550A can
/// show; the RTC's clock registers are in range whenever the guest is not setting the clock.
final class DeviceCampaign: Campaign {
    let threads: Int
    let accessesPerThread: Int
    let stringIOPercent: Int
    private var guest: FuzzMachine?
    private let limiter = RunLimiter()
    private let system: KVMSystem
    private let cpuid: CPUIDEntries
    private var accesses = 0
    private var stringRuns = 0
    private var stringBytes = 0

    static let mmioUARTBase: UInt64 = 0xD000_0000
    static let topDeviceBase: UInt64 = 0xFFFF_FFFF_FFFF_FFFC

    init(settings: CampaignSettings) throws {
        threads = settings.int("threads", default: 4)
        accessesPerThread = settings.int("accesses", default: 256)
        stringIOPercent = settings.int("string-io-percent", default: 15)
        system = try KVMSystem()
        cpuid = try system.supportedCPUID()
    }

    func figures() -> [(String, String)] {
        [("bus-accesses", String(accesses)), ("string-io-guest-runs", String(stringRuns)), ("string-io-bytes", String(stringBytes))]
    }

    func finish() throws { limiter.shutdown() }

    struct Access: CustomStringConvertible {
        var mmio: Bool
        var address: UInt64
        var size: Int
        var write: Bool
        var value: UInt64
        var description: String {
            "\(mmio ? "mmio" : "port") \(write ? "write" : "read") \(size) at \(hex(address))\(write ? " = \(hex(value))" : "")"
        }
    }

    /// Device ranges (base, size) on each bus.
    static let portRanges: [(UInt64, UInt64)] = [(0x3F8, 8), (0x60, 1), (0x64, 1), (0x70, 2), (0x600, 3), (0xF4, 4)]
    static let mmioRanges: [(UInt64, UInt64)] = [(mmioUARTBase, 8), (topDeviceBase, 4)]

    static func access(_ random: inout FuzzRandom) -> Access {
        let mmio = random.chance(35)
        let ranges = mmio ? mmioRanges : portRanges
        let address: UInt64
        switch random.next() % 10 {
        case 0..<7:
            let (base, size) = random.pick(ranges)
            address = base &+ UInt64(bitPattern: Int64(random.next() % (size + 4)) - 2)
        case 7: address = mmio ? random.next() : random.next() % 0x1_0000
        case 8: address = random.pick([0, 0xFFFF, 0x1_0000, UInt64.max, UInt64.max - 7, 0xFEE0_0000, 0x5FF])
        default: address = random.interesting64()
        }
        let sizes = [1, 2, 4, 8, 1, 2, 4, 8, 3, 5, 6, 7, 0, 9, 16, -1, Int.max, Int.min]
        return Access(mmio: mmio, address: address, size: random.pick(sizes), write: random.chance(50), value: random.interesting64())
    }

    func describe(iteration: Int, random: inout FuzzRandom) -> String {
        var threadsJSON: [String] = []
        for thread in 0..<threads {
            var stream = FuzzRandom(seed: random.next(), iteration: thread)
            let list = (0..<accessesPerThread).map { _ in jsonString(Self.access(&stream).description) }
            threadsJSON.append("[" + list.joined(separator: ", ") + "]")
        }
        let string = random.chance(stringIOPercent) ? StringIOProgram(random: &random).json : "null"
        return "{\"threads\": [" + threadsJSON.joined(separator: ", ") + "], \"stringIO\": \(string)}"
    }

    func run(iteration: Int, random: inout FuzzRandom) throws -> String {
        let uart = Serial16550A { _ in }
        let mmioUART = Serial16550A { _ in }
        let rtc = CMOSRTC()
        var bus = try FuzzMachine.bootBus(uart: uart, rtc: rtc)
        try bus.mmio.register(mmioUART, base: Self.mmioUARTBase, size: Serial16550A.size)
        try bus.mmio.register(DebugExitPort(), base: Self.topDeviceBase, size: 4)
        let finished = bus
        let seeds = (0..<threads).map { _ in random.next() }
        let found = Mutex<[String]>([])
        let kinds = Mutex<Set<String>>([])
        let perThread = accessesPerThread
        let workers = seeds.enumerated().map { index, seed in
            FuzzThread {
                var stream = FuzzRandom(seed: seed, iteration: index)
                var seen: Set<String> = []
                for _ in 0..<perThread {
                    let access = Self.access(&stream)
                    if let problem = Self.perform(access, on: finished, seen: &seen) {
                        found.withLock { $0.append("\(access): \(problem)") }
                    }
                }
                kinds.withLock { $0.formUnion(seen) }
            }
        }
        for worker in workers { worker.join() }
        accesses += threads * perThread
        if let problem = Self.checkClock(rtc) { found.withLock { $0.append(problem) } }
        if let problem = found.withLock({ $0.first }) { throw Violation(problem) }
        var key = kinds.withLock { $0.sorted().joined(separator: ",") }
        if random.chance(stringIOPercent) {
            let program = StringIOProgram(random: &random)
            key = "string \(try runStringIO(program)); " + key
        }
        return key
    }

    static func requestKind(_ request: MachineRequest) -> String {
        switch request {
        case .reset: "request reset"
        case .powerOff: "request power-off"
        case .exit: "request exit"
        }
    }

    /// One access; returns what was wrong with the answer, if anything.
    static func perform(_ access: Access, on bus: MachineBus, seen: inout Set<String>) -> String? {
        let target = access.mmio ? bus.mmio : bus.portIO
        let validSize = (1...8).contains(access.size)
        let covered = target.registration(containing: access.address)
        if access.write {
            let result = target.write(at: access.address, size: access.size, value: access.value)
            switch result {
            case .claimed(let request?):
                seen.insert(Self.requestKind(request))
                guard let range = covered?.range else { return "a request from no device" }
                let requesters: [UInt64] = [0x60, 0x64, 0x600, 0xF4, topDeviceBase]
                if !requesters.contains(range.base) { return "\(request) requested by the device at \(range)" }
            case .claimed(nil): seen.insert("write claimed")
            case .unclaimed(let unclaimed):
                seen.insert("unclaimed \(unclaimed.reason.kind)")
                if validSize && covered != nil && unclaimed.reason.kind != "crosses" { return "unclaimed though a device covers it: \(unclaimed)" }
            }
            if !validSize, case .claimed = result { return "a write of invalid size \(access.size) was claimed" }
        } else {
            let result = target.read(at: access.address, size: access.size)
            switch result {
            case .claimed(let value):
                seen.insert("read claimed")
                guard validSize else { return "a read of invalid size \(access.size) was claimed" }
                if access.size < 8 && value >> (8 * UInt64(access.size)) != 0 { return "read \(hex(value)) does not fit \(access.size) bytes" }
                if let range = covered?.range, range.base == 0x3F8 || range.base == mmioUARTBase {
                    let offset = access.address - range.base
                    for byte in 0..<UInt64(access.size) {
                        let register = offset + byte
                        let bits = UInt8(truncatingIfNeeded: value >> (8 * byte))
                        if register == 2, let problem = checkIIR(bits) { return problem }
                        if register == 5, let problem = checkLSR(bits) { return problem }
                    }
                }
            case .unclaimed(let unclaimed):
                seen.insert("unclaimed \(unclaimed.reason.kind)")
                if validSize && covered != nil && unclaimed.reason.kind != "crosses" { return "unclaimed though a device covers it: \(unclaimed)" }
                let ones: UInt64 = validSize ? (access.size == 8 ? .max : (1 << (8 * UInt64(access.size))) - 1) : result.value
                if result.value != ones { return "an unclaimed read gave \(hex(result.value)), not all-ones" }
            }
        }
        return nil
    }

    /// A 16550A's IIR: bits 7-6 are 00 (FIFO off) or 11 (on), bits 5-4 are 0, and bits 3-0 name no
    /// interrupt (0001) or one of line status (0110), received data (0100), timeout (1100), THR
    /// empty (0010) and modem status (0000).
    static func checkIIR(_ value: UInt8) -> String? {
        let fifo = value & 0xC0
        guard fifo == 0 || fifo == 0xC0, value & 0x30 == 0, [0x1, 0x6, 0x4, 0xC, 0x2, 0x0].contains(value & 0x0F) else {
            return "UART IIR \(hex(value)) is not a 16550A value"
        }
        return nil
    }

    /// LSR: TEMT implies THRE; this model reports no parity, framing or break errors.
    static func checkLSR(_ value: UInt8) -> String? {
        if value & 0x40 != 0 && value & 0x20 == 0 { return "UART LSR \(hex(value)): TEMT without THRE" }
        if value & 0x9C != 0 { return "UART LSR \(hex(value)): error bits the model never sets" }
        return nil
    }

    /// The clock registers, read directly, when the guest is not setting the clock (B.SET clear).
    static func checkClock(_ rtc: CMOSRTC) -> String? {
        let b = rtc.read(register: CMOSRTC.Register.b)
        guard b & CMOSRTC.RegisterB.set == 0 else { return nil }
        let binary = b & CMOSRTC.RegisterB.binary != 0
        func decode(_ raw: UInt8) -> Int? {
            if binary { return Int(raw) }
            guard raw & 0x0F <= 9, raw >> 4 <= 9 else { return nil }
            return Int(raw >> 4) * 10 + Int(raw & 0x0F)
        }
        let checks: [(String, UInt8, ClosedRange<Int>)] = [
            ("seconds", CMOSRTC.Register.seconds, 0...59), ("minutes", CMOSRTC.Register.minutes, 0...59),
            ("day of week", CMOSRTC.Register.dayOfWeek, 1...7), ("day of month", CMOSRTC.Register.dayOfMonth, 1...31),
            ("month", CMOSRTC.Register.month, 1...12), ("year", CMOSRTC.Register.year, 0...99),
        ]
        for (name, register, range) in checks {
            let raw = rtc.read(register: register)
            guard let value = decode(raw), range.contains(value) else {
                return "RTC \(name) register reads \(hex(raw)) (\(binary ? "binary" : "BCD")) with SET clear, time \(rtc.guestTime)"
            }
        }
        let hourRaw = rtc.read(register: CMOSRTC.Register.hours)
        let twentyFour = b & CMOSRTC.RegisterB.twentyFourHour != 0
        let hour = decode(twentyFour ? hourRaw : hourRaw & 0x7F)
        if hour == nil || !(twentyFour ? 0...23 : 1...12).contains(hour!) {
            return "RTC hours register reads \(hex(hourRaw)) (B = \(hex(b))), time \(rtc.guestTime)"
        }
        return nil
    }

    // MARK: String I/O from a guest

    struct StringIOProgram {
        var port: UInt16
        var count: UInt32
        var instruction: [UInt8]
        var downward: Bool
        var json: String {
            "{\"port\": \"\(hex(port))\", \"count\": \"\(hex(count))\", \"instruction\": \(jsonBytes(instruction)), \"downward\": \(downward)}"
        }

        init(random: inout FuzzRandom) {
            port = random.pick([0x3F8, 0x3F9, 0x3FD, 0x3FF, 0x400, 0x60, 0x64, 0x70, 0x71, 0xF4, 0x600, 0x601, 0x603, 0x1234] as [UInt16])
            count = random.pick([0, 1, 2, 15, 16, 17, 0x7FF, 0x800, 0x1000, 0x1001, 0xFFFF, 0x1_0000, 0x10_0000, 0xFFFF_FFFF] as [UInt32])
            // rep insb/insw/insd/outsb/outsw/outsd, with the 32-bit address size (ECX, ESI/EDI) or not.
            instruction = (random.chance(50) ? [0x67] : []) + [0xF3] + random.pick([[0x6C], [0x66, 0x6D], [0x6D], [0x6E], [0x66, 0x6F], [0x6F]] as [[UInt8]])
            downward = random.chance(20)
        }
    }

    private func runStringIO(_ program: StringIOProgram) throws -> String {
        if guest == nil { guest = try FuzzMachine(system: system, cpuid: cpuid) }
        let machine = guest!
        stringRuns += 1
        try machine.clearMemory()
        // mov dx, port; mov ecx, count; <string instruction>; mov dx, 0x5FF; out dx, al
        var code: [UInt8] = [0xBA, UInt8(program.port & 0xFF), UInt8(program.port >> 8)]
        code += [0x66, 0xB9] + (0..<4).map { UInt8(truncatingIfNeeded: program.count >> (8 * $0)) }
        code += program.instruction
        code += [0xBA, 0xFF, 0x05, 0xEE, 0xF4]
        try machine.vm.memory.write(bytes: code, at: GuestAddress(0x7000))
        var special = machine.initialSpecialRegisters
        for path in [\KVMSRegs.cs, \.ds, \.es, \.ss] as [WritableKeyPath<KVMSRegs, KVMSegment>] {
            special[keyPath: path].selector = 0
            special[keyPath: path].base = 0
        }
        try machine.vcpu.setSpecialRegisters(special)
        var registers = KVMRegs()
        registers.rip = 0x7000
        registers.rsi = 0x8000
        registers.rdi = 0x8000
        registers.rsp = 0x6000
        registers.rflags = 0x2 | (program.downward ? 0x400 : 0)
        try machine.vcpu.setRegisters(registers)
        limiter.arm(machine.vcpu.stopper, milliseconds: 20)
        defer {
            _ = limiter.disarm()
            if machine.vcpu.stopper.isStopRequested { _ = try? machine.vcpu.run() }
        }
        while true {
            let exit: VCPUExit
            do { exit = try machine.vcpu.run() } catch {
                guest = nil
                return "run error \(errorKey(error))"
            }
            switch exit {
            case .io(let io):
                if io.port == FuzzMachine.harnessPort { return "completed" }
                guard io.size * io.count <= MachineBus.maximumStringBytes else {
                    throw Violation("KVM reported a string I/O exit of \(io.size) × \(io.count) bytes, more than a page")
                }
                stringBytes += io.size * io.count
                do {
                    if case .request(let request) = try machine.bus.handle(io, on: machine.vcpu) { return Self.requestKind(request) }
                } catch {
                    return "bus error \(errorKey(error))"
                }
            case .mmio(let access): _ = machine.bus.handle(access, on: machine.vcpu)
            case .interrupted: continue
            case .stopped: return "stopped at the time limit"
            default:
                guest = nil
                return "exit \(errorKey(text: String(String(describing: exit).prefix(40))))"
            }
        }
    }
}

extension UnclaimedAccess.Reason {
    var kind: String {
        switch self {
        case .noDevice: "no-device"
        case .crossesRangeEnd: "crosses"
        case .invalidSize: "invalid-size"
        }
    }
}
