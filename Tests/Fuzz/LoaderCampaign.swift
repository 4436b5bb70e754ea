import Glibc
import KVM
import KernelImageFixtures
import LinuxLoader

/// Malformed loader input: valid synthetic bzImages (uncompressed, and with gzip, LZ4, xz, zstd and
/// plain-ELF payloads), PVH vmlinux files and multiboot kernels (ELF and a.out kludge), mutated (byte
/// flips, header fields set to boundary values, truncation, garbage appended), with initrds and
/// images larger than guest RAM (a sparse image source that claims any size) and command lines past
/// the protocol's limit. No vCPU exists: `KernelLoader.load` must return or throw its typed
/// `LoadError`; when it returns, every range it placed must lie in guest RAM.
final class LoaderCampaign: Campaign {
    private let memories: [(size: Int, memory: GuestMemory)]
    private var loaded = 0
    private var refused = 0

    static let seeds: [(String, [UInt8])] = [
        ("bzImage", FakeKernel.bzImage(code64: FakeKernel.printAndReset64("x"))),
        ("bzImage+elf", FakeKernel.bzImage(code64: [0xF4], payload: FakeKernel.kernelELF(code64: [0xF4]))),
        ("bzImage+gzip", FakeKernel.bzImage(code64: [0xF4], payload: GzipFixture.stored(FakeKernel.kernelELF(code64: [0xF4])))),
        ("bzImage+lz4", FakeKernel.bzImage(code64: [0xF4], payload: LZ4Fixture.stream(FakeKernel.kernelELF(code64: [0xF4]), blockSize: 3000))),
        ("bzImage+xz", FakeKernel.bzImage(code64: [0xF4], payload: KernelPayloadFixture.xz)),
        ("bzImage+zstd", FakeKernel.bzImage(code64: [0xF4], payload: KernelPayloadFixture.zstd)),
        ("pvh", FakeKernel.pvhELF(code32: FakeKernel.printAndPowerOff32("x"))),
        ("multiboot-elf", FakeKernel.multibootELF32(message: "x")),
        ("multiboot-flat", FakeKernel.multibootFlat(message: "x")),
    ]

    init(settings: CampaignSettings) throws {
        // 64 MiB (room for every seed) and 8 MiB (too small for the bzImage's 16 MiB load address).
        memories = try [64 << 20, 8 << 20].map { size in
            let region = try GuestMemoryRegion(slot: 0, guestBase: GuestAddress(0), mapping: MemoryMapping(byteCount: size))
            return (size, try GuestMemory(regions: [region]))
        }
    }

    func figures() -> [(String, String)] { [("loaded", String(loaded)), ("refused-with-a-typed-error", String(refused))] }

    /// One case: the image (bytes and the size it claims), initrd, command line and RAM.
    struct Input {
        var seed: String
        var image: [UInt8]
        var mutations: [String]
        var claimedSize: Int?
        var initrd: (bytes: [UInt8], claimedSize: Int)?
        var commandLine: String
        var ram: Int

        var json: String {
            let initrdJSON = initrd.map { "{\"bytes\": \($0.bytes.count), \"claimedSize\": \($0.claimedSize)}" } ?? "null"
            return "{\"seed\": \"\(seed)\", \"mutations\": [" + mutations.map(jsonString).joined(separator: ", ") + "], "
                + "\"claimedSize\": \(claimedSize.map(String.init) ?? "null"), \"initrd\": \(initrdJSON), "
                + "\"commandLineLength\": \(commandLine.utf8.count), \"commandLineHasNUL\": \(commandLine.utf8.contains(0)), "
                + "\"ram\": \(ram), \"image\": \(jsonBytes(image))}"
        }
    }

    static func input(_ random: inout FuzzRandom) -> Input {
        let (name, seed) = random.pick(seeds)
        var image = seed
        var mutations: [String] = []
        let rounds = random.chance(15) ? 0 : 1 + Int(random.next() % 4)
        for _ in 0..<rounds {
            guard !image.isEmpty else { break }
            switch random.next() % 6 {
            case 0, 1:
                // Byte flips, mostly in the headers.
                let span = random.chance(70) ? min(image.count, 0x400) : image.count
                for _ in 0..<(1 + random.next() % 8) {
                    let offset = Int(random.next() % UInt64(span))
                    image[offset] = random.chance(50) ? UInt8(truncatingIfNeeded: random.next()) : random.pick([0, 0xFF, 0x7F, 0x80, 1])
                    mutations.append("byte \(hex(offset)) = \(hex(image[offset]))")
                }
            case 2:
                // A header field set to a boundary value.
                let width = random.pick([2, 4, 8])
                let offset = Int(random.next() % UInt64(max(1, min(image.count, 0x300) - width + 1)))
                guard offset + width <= image.count else { break }
                let value = random.interesting64()
                for index in 0..<width { image[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
                mutations.append("field \(hex(offset))/\(width) = \(hex(value))")
            case 3:
                let length = random.chance(50) ? Int(random.next() % UInt64(min(image.count, 0x400) + 1)) : Int(random.next() % UInt64(image.count + 1))
                image = Array(image.prefix(length))
                mutations.append("truncated to \(length)")
            case 4:
                let garbage = random.bytes(Int(random.next() % 4096))
                image += garbage
                mutations.append("\(garbage.count) bytes appended")
            default:
                // Bytes flipped in the payload (the tail: compressed streams, ELF program headers).
                let start = image.count / 2
                for _ in 0..<(1 + random.next() % 4) where image.count > start {
                    let offset = start + Int(random.next() % UInt64(image.count - start))
                    image[offset] ^= UInt8(truncatingIfNeeded: 1 << (random.next() % 8))
                    mutations.append("bit flip at \(hex(offset))")
                }
            }
        }
        var claimedSize: Int?
        if random.chance(5) {
            claimedSize = random.pick([64 << 20, (64 << 20) + 1, 1 << 32, 1 << 40, Int.max, Int.max - 4095])
            mutations.append("kernel claims \(claimedSize!) bytes")
        }
        var initrd: (bytes: [UInt8], claimedSize: Int)?
        switch random.next() % 10 {
        case 0..<4: initrd = nil
        case 4..<7:
            let bytes = random.bytes(Int(random.next() % 8192))
            initrd = (bytes, bytes.count)
        default:
            // Larger than guest RAM (or than any address space).
            initrd = ([0x30, 0x37, 0x30, 0x37], random.pick([8 << 20, 63 << 20, 64 << 20, (64 << 20) + 1, 1 << 32, 1 << 40, Int.max]))
        }
        let commandLine: String
        switch random.next() % 8 {
        case 0: commandLine = String(repeating: "a", count: random.pick([2046, 2047, 2048, 2049, 4096, 0xFFFF, 0x1_0000, 0x10_0000]))
        case 1: commandLine = "console=ttyS0\u{0}hidden"
        case 2: commandLine = String(repeating: "é", count: random.pick([1023, 1024, 1025, 40000]))
        case 3: commandLine = ""
        default: commandLine = "console=ttyS0 panic=-1"
        }
        let ram = random.chance(15) ? 8 << 20 : 64 << 20
        return Input(seed: name, image: image, mutations: mutations, claimedSize: claimedSize, initrd: initrd, commandLine: commandLine, ram: ram)
    }

    func describe(iteration: Int, random: inout FuzzRandom) -> String { Self.input(&random).json }

    func run(iteration: Int, random: inout FuzzRandom) throws -> String {
        let input = Self.input(&random)
        let memory = memories.first { $0.size == input.ram }!.memory
        let loader = KernelLoader(memoryMap: MemoryMap(ramSize: UInt64(input.ram)), rsdpAddress: GuestAddress(0xE_0000))
        let kernel = SparseImage(bytes: input.image, claimedSize: input.claimedSize ?? input.image.count)
        let initrd = input.initrd.map { SparseImage(bytes: $0.bytes, claimedSize: $0.claimedSize) }
        do {
            let loadedKernel = try loader.load(kernel: kernel, initrd: initrd, commandLine: input.commandLine, into: memory)
            loaded += 1
            for placement in loadedKernel.placements where placement.range.upperBound.rawValue > UInt64(input.ram) {
                throw Violation("\(input.seed): placed \(placement) outside \(input.ram) bytes of RAM")
            }
            return "loaded \(input.seed.split(separator: "+").first!)"
        } catch let error as LoadError {
            refused += 1
            let text = error.description
            if text.isEmpty { throw Violation("an empty error message") }
            return "error: \(errorKey(text: text))"
        }
    }
}

/// An image whose bytes are `bytes` followed by zeros up to `claimedSize` (which may exceed guest RAM
/// and any real file): the loader must check sizes before it copies, since copying that much fails.
struct SparseImage: ImageSource {
    let bytes: [UInt8]
    let claimedSize: Int

    var size: Int { claimedSize }

    func bytes(at offset: Int, count: Int) -> [UInt8]? {
        guard offset >= 0, count >= 0, offset <= claimedSize, count <= claimedSize - offset else { return nil }
        guard count <= 1 << 26 else { return nil }  // a read the host cannot hold: report it unreadable
        return (0..<count).map { offset + $0 < bytes.count ? bytes[offset + $0] : 0 }
    }

    func copy(from offset: Int, count: Int, to address: GuestAddress, in memory: GuestMemory) throws(ImageError) {
        guard offset >= 0, count >= 0, offset <= claimedSize, count <= claimedSize - offset else {
            throw .outOfRange(offset: offset, count: count, size: claimedSize)
        }
        guard let data = bytes(at: offset, count: count) else { throw .readFailed(path: "<sparse image>", errno: ENOMEM) }
        do {
            try memory.write(bytes: data, at: address)
        } catch {
            throw .guestMemory(error)
        }
    }
}
