import Glibc
import KVM
import VirtioDevices
import VirtioMMIO

/// A hostile virtio driver: the virtio-mmio transport with the entropy, console and block devices
/// behind it, driven through its registers with a mostly valid initialisation (status, features,
/// queue sizes and ring addresses, some in RAM and some not) followed by random register accesses of
/// every size, and with random descriptor tables, available rings and indirect tables in guest memory
/// before each `QueueNotify`. The worker thread processes them; nothing may crash or hang, the
/// identification registers must keep their values, and `shutdown()` must return.
final class VirtioCampaign: Campaign {
    static let ramSize = 1 << 20
    let memory: GuestMemory
    let diskPath: String
    private var notifications = 0
    private var needsReset = 0
    private var accesses = 0
    private var casesWithUsedBuffers = 0
    private var usedBuffers = 0

    init(settings: CampaignSettings) throws {
        let region = try GuestMemoryRegion(slot: 0, guestBase: GuestAddress(0), mapping: MemoryMapping(byteCount: Self.ramSize))
        memory = try GuestMemory(regions: [region])
        diskPath = "/tmp/kvm-fuzz-disk-\(getpid()).img"
        let fd = open(diskPath, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0, ftruncate(fd, 1 << 20) == 0 else { throw Violation("cannot create the scratch disk image \(diskPath)") }
        close(fd)
    }

    /// Removes the scratch disk (the runner ends with `exit`, so no deinit runs).
    func finish() throws { unlink(diskPath) }

    func figures() -> [(String, String)] {
        [("register-accesses", String(accesses)), ("queue-notifications", String(notifications)), ("ended-needing-reset", String(needsReset)),
         ("cases-where-the-device-used-buffers", String(casesWithUsedBuffers)), ("used-ring-advances", String(usedBuffers))]
    }

    enum Operation: CustomStringConvertible {
        case write(offset: UInt64, size: Int, value: UInt64)
        case read(offset: UInt64, size: Int)
        /// Random descriptors, available ring and data at the queue's addresses.
        case scribble(seed: UInt64)
        /// 200 µs for the worker thread to take the notification.
        case pause
        var description: String {
            switch self {
            case .write(let offset, let size, let value): "write \(size) at \(hex(offset)) = \(hex(value))"
            case .read(let offset, let size): "read \(size) at \(hex(offset))"
            case .scribble(let seed): "scribble rings with seed \(hex(seed))"
            case .pause: "pause 200 us"
            }
        }
    }

    struct Program {
        var device: Int
        var operations: [Operation]
    }

    static func program(_ random: inout FuzzRandom) -> Program {
        var operations: [Operation] = []
        func w(_ offset: UInt64, _ value: UInt64) { operations.append(.write(offset: offset, size: 4, value: value)) }
        let queues = 3
        if random.chance(80) {
            w(0x070, 0)
            w(0x070, 1)
            w(0x070, 3)
            w(0x024, 0); w(0x020, random.chance(70) ? 0x3000_0000 : random.next() & 0xFFFF_FFFF)
            w(0x024, 1); w(0x020, random.chance(80) ? 1 : random.next() & 0xFFFF_FFFF)
            w(0x070, 0xB)
            for queue in 0..<queues where random.chance(80) {
                w(0x030, UInt64(queue))
                w(0x038, random.chance(75) ? 16 : random.pick([1, 2, 4, 8, 256, 0, 3, 257, 0xFFFF] as [UInt64]))
                let wellPlaced = random.chance(85)
                func address(_ base: UInt64) -> UInt64 {
                    if wellPlaced { return base }
                    switch random.next() % 4 {
                    case 0: return UInt64(ramSize) - random.next() % 64
                    case 1: return random.next()
                    case 2: return base + 1
                    default: return base
                    }
                }
                let base = 0x1000 + UInt64(queue) * 0x3000
                for (low, value) in [(0x080 as UInt64, address(base)), (0x090, address(base + 0x1000)), (0x0A0, address(base + 0x2000))] {
                    w(low, value & 0xFFFF_FFFF)
                    w(low + 4, value >> 32)
                }
                w(0x044, 1)
            }
            w(0x070, random.chance(90) ? 0xF : random.next() & 0xFF)
        }
        for _ in 0..<(4 + random.next() % 40) {
            switch random.next() % 10 {
            case 0..<3:
                operations.append(.scribble(seed: random.next()))
                operations.append(.write(offset: 0x050, size: 4, value: random.chance(80) ? random.next() % 3 : random.interesting64() & 0xFFFF_FFFF))
                if random.chance(50) { operations.append(.pause) }
            case 3:
                operations.append(.read(offset: 0x100 + random.next() % 0x40, size: random.pick([1, 2, 4, 8, 3])))
            case 4:
                operations.append(.write(offset: 0x064, size: 4, value: random.next() & 3))
            case 5:
                operations.append(.read(offset: random.pick([0x000, 0x004, 0x008, 0x034, 0x044, 0x060, 0x070, 0x0FC, 0x0B0] as [UInt64]), size: 4))
            default:
                var offset = random.chance(80) ? (random.next() % 0x110) & ~3 : random.next() % 0x1000
                if offset == 0x070 && random.chance(80) { offset = 0x0FC }  // a reset now and then, not every few cases
                let size = random.pick([1, 2, 4, 8, 4, 4, 3])
                if random.chance(60) {
                    operations.append(.write(offset: offset, size: size, value: random.interesting64()))
                } else {
                    operations.append(.read(offset: offset, size: size))
                }
            }
        }
        return Program(device: Int(random.next() % 3), operations: operations)
    }

    func describe(iteration: Int, random: inout FuzzRandom) -> String {
        let program = Self.program(&random)
        return "{\"device\": \(["entropy", "console", "block"][program.device].debugDescription), \"operations\": ["
            + program.operations.map { jsonString($0.description) }.joined(separator: ", ") + "]}"
    }

    /// Ring contents for the three queues' default addresses (descriptor tables at 0x1000 + 0x3000 q,
    /// available rings 0x1000 above, used rings 0x2000 above), buffers elsewhere in RAM: most of the
    /// time well-formed requests for the device (so the data path runs: entropy fills writable
    /// buffers, the console sends readable ones, the block device reads, writes, flushes, discards
    /// and names its disk at random sectors), otherwise random descriptors (bad addresses, lengths,
    /// flags, loops, indirect tables) and available indices.
    func scribble(_ seed: UInt64, device: Int) throws {
        var random = FuzzRandom(seed: seed)
        func descriptor(_ address: UInt64, _ length: UInt32, _ flags: UInt16, _ next: UInt16) -> [UInt8] {
            (0..<8).map { UInt8(truncatingIfNeeded: address >> (8 * UInt64($0))) }
                + (0..<4).map { UInt8(truncatingIfNeeded: length >> (8 * UInt32($0))) }
                + [UInt8(flags & 0xFF), UInt8(flags >> 8), UInt8(next & 0xFF), UInt8(next >> 8)]
        }
        func buffer() -> UInt64 { 0x10000 + (random.next() % UInt64(Self.ramSize - 0x20000)) & ~0xF }
        for queue in 0..<3 {
            let base = 0x1000 + UInt64(queue) * 0x3000
            var table: [UInt8] = []
            var heads: [UInt16] = []
            if random.chance(70) {
                // Well-formed chains (NEXT = 1, WRITE = 2).
                for _ in 0..<(1 + random.next() % 4) {
                    let head = UInt16(table.count / 16)
                    heads.append(head)
                    if device == 2 {
                        let header = buffer()
                        let type = random.pick([0, 1, 4, 8, 11, 13, 99] as [UInt32])
                        let sector: UInt64 = random.chance(80) ? random.next() % 2100 : random.interesting64()
                        let body: [UInt8] = (0..<4).map { UInt8(truncatingIfNeeded: type >> (8 * UInt32($0))) } + [0, 0, 0, 0]
                            + (0..<8).map { UInt8(truncatingIfNeeded: sector >> (8 * UInt64($0))) }
                        try memory.write(bytes: body, at: GuestAddress(header))
                        let dataLength = UInt32(random.pick([512, 1024, 4096, 16, 0, 511, 20] as [UInt32]))
                        let dataWritable: UInt16 = type == 1 ? 0 : 2  // OUT reads the buffer; IN, GET_ID write it
                        table += descriptor(header, 16, 1, head + 1)
                        table += descriptor(buffer(), dataLength, 1 | dataWritable, head + 2)
                        table += descriptor(buffer(), 1, 2, 0)
                    } else {
                        let writable: UInt16 = device == 0 || queue == 0 ? 2 : 0
                        table += descriptor(buffer(), UInt32(1 + random.next() % 2048), writable, 0)
                    }
                }
            } else {
                for _ in 0..<(1 + random.next() % 16) {
                    let address: UInt64 = random.chance(80) ? buffer() : random.interesting64()
                    let length: UInt32 = random.chance(80) ? UInt32(random.next() % 4096) : UInt32(truncatingIfNeeded: random.interesting64())
                    let flags: UInt16 = random.chance(85) ? UInt16(random.next() % 8) : UInt16(truncatingIfNeeded: random.next())
                    let next: UInt16 = random.chance(85) ? UInt16(random.next() % 17) : UInt16(truncatingIfNeeded: random.next())
                    table += descriptor(address, length, flags, next)
                }
                heads = (0..<(1 + random.next() % 8)).map { _ in
                    random.chance(85) ? UInt16(random.next() % UInt64(table.count / 16)) : UInt16(truncatingIfNeeded: random.next())
                }
            }
            try memory.write(bytes: table, at: GuestAddress(base))
            // Available ring: flags, idx (just past the heads, or anything), ring[].
            let previous: UInt16 = (try? memory.load(UInt16.self, at: GuestAddress(base + 0x1000 + 2))) ?? 0
            let index: UInt16 = random.chance(85) ? previous &+ UInt16(heads.count) : UInt16(truncatingIfNeeded: random.next())
            var ring: [UInt8] = []
            for slot in 0..<16 {
                let head = heads[slot % heads.count]
                ring += [UInt8(head & 0xFF), UInt8(head >> 8)]
            }
            // The new heads go at the ring positions the device reads next.
            let size = 16
            for (offset, head) in heads.enumerated() {
                let position = (Int(previous) + offset) % size
                ring[2 * position] = UInt8(head & 0xFF)
                ring[2 * position + 1] = UInt8(head >> 8)
            }
            try memory.write(bytes: [0, 0, UInt8(index & 0xFF), UInt8(index >> 8)] + ring, at: GuestAddress(base + 0x1000))
        }
    }

    func run(iteration: Int, random: inout FuzzRandom) throws -> String {
        let program = Self.program(&random)
        let device: any VirtioDevice
        switch program.device {
        case 0: device = VirtioEntropyDevice()
        case 1: device = VirtioConsoleDevice(configuration: VirtioConsoleDeviceConfiguration(attachment: VirtioConsoleAttachment { _ in }))
        default: device = VirtioBlockDevice(configuration: VirtioBlockDeviceConfiguration(attachment: try DiskImageAttachment(path: diskPath)))
        }
        let errors = Tally()
        let transport = try VirtioMMIOTransport(device: device, memory: memory, interrupt: VirtioInterruptTrigger {}) { error in
            errors.add(errorKey(error))
        }
        defer { transport.shutdown() }
        // Fresh rings for a fresh transport.
        try memory.write(bytes: [UInt8](repeating: 0, count: 0xA000), at: GuestAddress(0x1000))
        for operation in program.operations {
            accesses += 1
            switch operation {
            case .write(let offset, let size, let value):
                if offset == 0x050 { notifications += 1 }
                _ = transport.write(at: offset, size: size, value: value)
            case .read(let offset, let size):
                let value = transport.read(at: offset, size: size)
                if size < 8 && value >> (8 * UInt64(size)) != 0 { throw Violation("\(operation) gave \(hex(value)), wider than the access") }
            case .scribble(let seed):
                try scribble(seed, device: program.device)
            case .pause:
                Clock.sleep(microseconds: 200)
            }
        }
        Clock.sleep(microseconds: 500)  // let the worker take the last notifications
        if transport.read(at: 0, size: 4) != 0x7472_6976 { throw Violation("MagicValue changed") }
        if transport.read(at: 4, size: 4) != 2 { throw Violation("Version changed") }
        let status = transport.status
        if status.contains(.deviceNeedsReset) { needsReset += 1 }
        // How far each queue's used ring (at its default address) advanced: the data path ran.
        var used = 0
        for queue in 0..<3 {
            let index: UInt16 = (try? memory.load(UInt16.self, at: GuestAddress(0x1000 + UInt64(queue) * 0x3000 + 0x2000 + 2))) ?? 0
            used += Int(index)
            try? memory.store(UInt16(0), at: GuestAddress(0x1000 + UInt64(queue) * 0x3000 + 0x2000 + 2))
        }
        if used > 0 { casesWithUsedBuffers += 1 }
        usedBuffers += used
        let name = ["entropy", "console", "block"][program.device]
        let reported = errors.counts.keys.sorted().first.map { ": \($0.prefix(60))" } ?? ""
        var state: [String] = []
        if status.contains(.driverOK) { state.append("driver-ok") }
        if status.contains(.deviceNeedsReset) { state.append("needs-reset") }
        if status.contains(.failed) { state.append("failed") }
        return "\(name) [\(state.joined(separator: ","))]\(reported)"
    }
}
