import KVM
import KernelImageFixtures
import LinuxLoader
import Testing

// The loader on fake images of every format, into plain guest memory (anonymous mappings, no VM): what it
// writes (zero page, start_info, multiboot information, command line, initrd, e820), the entry state it
// reports, and the exact error for each kind of bad image, initrd and command line.

/// Guest memory for `map`'s slots, without a VM.
func guestMemory(_ map: MemoryMap) throws -> GuestMemory {
    var memory = GuestMemory()
    for (slot, range) in map.slots.enumerated() {
        let mapping = try MemoryMapping(byteCount: Int(range.size))
        try memory.insert(GuestMemoryRegion(slot: UInt32(slot), guestBase: GuestAddress(range.address), mapping: mapping))
    }
    return memory
}

func read<T: FixedWidthInteger>(_ memory: GuestMemory, _ address: UInt64, as _: T.Type = T.self) throws -> T {
    let bytes = try memory.readBytes(at: GuestAddress(address), count: MemoryLayout<T>.size)
    return bytes.enumerated().reduce(T(0)) { $0 | T($1.element) << (8 * $1.offset) }
}

/// Loads `kernel` into fresh memory of `MiB` mebibytes; returns what the loader said and the memory.
func load(
    _ kernel: [UInt8], initrd: [UInt8]? = nil, commandLine: String = "console=ttyS0", mebibytes: UInt64 = 64,
    decompression: KernelLoader.Decompression = .host(.standard)
) throws -> (LoadedKernel, GuestMemory) {
    let map = MemoryMap(ramSize: mebibytes << 20)
    let memory = try guestMemory(map)
    let loader = KernelLoader(memoryMap: map, decompression: decompression, rsdpAddress: 0xE_0000)
    let loaded = try loader.load(kernel: ImageBytes(kernel), initrd: initrd.map { ImageBytes($0) }, commandLine: commandLine, into: memory)
    return (loaded, memory)
}

/// The error loading `kernel` throws (nil if it loads).
func loadError(
    _ kernel: [UInt8], initrd: [UInt8]? = nil, commandLine: String = "console=ttyS0", mebibytes: UInt64 = 64
) -> LoadError? {
    do {
        _ = try load(kernel, initrd: initrd, commandLine: commandLine, mebibytes: mebibytes)
        return nil
    } catch let error as LoadError {
        return error
    } catch {
        return .emptyImage  // not a LoadError: fails the caller's comparison
    }
}

@Suite struct BzImageLoading {
    @Test func guestDecompressionEntersAtLoadPlus0x200WithTheZeroPage() throws {
        let image = FakeKernel.bzImage(code64: FakeKernel.printAndReset64("x"))
        let initrd = [UInt8](repeating: 0xA5, count: 5000)
        let (loaded, memory) = try load(image, initrd: initrd, commandLine: "console=ttyS0 quiet", decompression: .guest)
        #expect(loaded.format == .bzImage(protocolVersion: 0x020F))
        #expect(loaded.entry == EntryState(mode: .longMode64, instructionPointer: 0x100_0200, rax: 0, rbx: 0, rsi: 0x7000))
        #expect(loaded.decompression == .guest(reason: .requested))
        #expect(loaded.kernel == GuestAddress(0x100_0000)..<GuestAddress(0x100_0000 + 0x40_0000), "pref_address, init_size")
        #expect(try memory.readBytes(at: 0x100_0200, count: 6) == Array(FakeKernel.printAndReset64("x").prefix(6)))
        // The zero page.
        #expect(try memory.readBytes(at: 0x7202, count: 4) == Array("HdrS".utf8))
        #expect(try read(memory, 0x7210, as: UInt8.self) == 0xFF, "type_of_loader")
        #expect(try read(memory, 0x7211, as: UInt8.self) & 0x81 == 0x01, "LOADED_HIGH, no CAN_USE_HEAP")
        #expect(try read(memory, 0x7228, as: UInt32.self) == 0x2_0000, "cmd_line_ptr")
        #expect(try memory.readBytes(at: 0x2_0000, count: 20) == Array("console=ttyS0 quiet".utf8) + [0])
        #expect(try read(memory, 0x7070, as: UInt64.self) == 0xE_0000, "acpi_rsdp_addr")
        let initrdAddress = try read(memory, 0x7218, as: UInt32.self)
        #expect(try read(memory, 0x721C, as: UInt32.self) == 5000)
        #expect(UInt64(initrdAddress) == loaded.initrd?.lowerBound.rawValue)
        #expect(initrdAddress % 4096 == 0 && UInt64(initrdAddress) + 5000 <= 64 << 20 && initrdAddress >= 0x140_0000, "above init_size, top of RAM")
        #expect(try memory.readBytes(at: GuestAddress(UInt64(initrdAddress)), count: 3) == [0xA5, 0xA5, 0xA5])
        // e820: RAM below the EBDA, EBDA and BIOS area reserved, RAM from 1 MiB.
        #expect(try read(memory, 0x71E8, as: UInt8.self) == 4)
        #expect(try read(memory, 0x72D0 + 3 * 20, as: UInt64.self) == 0x10_0000)
        #expect(try read(memory, 0x72D0 + 3 * 20 + 8, as: UInt64.self) == (64 << 20) - 0x10_0000)
        #expect(try read(memory, 0x72D0 + 3 * 20 + 16, as: UInt32.self) == 1)
        #expect(try read(memory, 0x72D0 + 1 * 20 + 16, as: UInt32.self) == 2)
    }

    @Test(arguments: [
        ("lz4", LZ4Fixture.stream(FakeKernel.kernelELF(code64: FakeKernel.printAndReset64("lz4")), blockSize: 3000), "lz4"),
        ("gzip", GzipFixture.stored(FakeKernel.kernelELF(code64: FakeKernel.printAndReset64("gzip"))), "gzip"),
        ("xz", KernelPayloadFixture.xz, KernelPayloadFixture.xzMessage),
        ("zstd", KernelPayloadFixture.zstd, KernelPayloadFixture.zstdMessage),
        ("uncompressed", FakeKernel.kernelELF(code64: FakeKernel.printAndReset64("plain")), "plain"),
    ])
    func hostDecompressionEntersStartup64(format: String, payload: [UInt8], message: String) throws {
        let image = FakeKernel.bzImage(code64: FakeKernel.printAndReset64("decompressor"), payload: payload)
        let (loaded, memory) = try load(image, initrd: [1, 2, 3])
        #expect(loaded.entry == EntryState(mode: .longMode64, instructionPointer: 0x100_0000, rax: 0, rbx: 0, rsi: 0x7000))
        guard case .host(let name, let compressed, let decompressed, _)? = loaded.decompression else {
            Issue.record("not decompressed by the host: \(String(describing: loaded.decompression))")
            return
        }
        #expect(name == format)
        #expect(compressed == payload.count)
        #expect(decompressed == FakeKernel.kernelELF(code64: FakeKernel.printAndReset64(message)).count)
        #expect(loaded.kernel == GuestAddress(0x100_0000)..<GuestAddress(0x120_0000), "the segment with its 2 MiB bss")
        #expect(try memory.readBytes(at: 0x100_0000, count: 6) == Array(FakeKernel.printAndReset64(message).prefix(6)))
        #expect(try read(memory, 0x7214, as: UInt32.self) == 0x100_0000, "code32_start = the kernel's start")
        #expect(try read(memory, 0x7211, as: UInt8.self) & 0x2 == 0, "KASLR_FLAG clear")
        #expect(loaded.initrd.map { $0.lowerBound.rawValue >= 0x120_0000 } == true, "the initrd is above the bss")
    }

    @Test func bssIsZeroedEvenInReusedMemory() throws {
        let map = MemoryMap(ramSize: 64 << 20)
        let memory = try guestMemory(map)
        try memory.write(bytes: [UInt8](repeating: 0xCC, count: 4096), at: 0x110_0000)
        let image = FakeKernel.bzImage(code64: [0xF4], payload: FakeKernel.kernelELF(code64: [0xF4]))
        _ = try KernelLoader(memoryMap: map).load(kernel: ImageBytes(image), commandLine: "", into: memory)
        #expect(try memory.readBytes(at: 0x110_0000, count: 4096) == [UInt8](repeating: 0, count: 4096))
    }

    @Test func aPayloadNoDecompressorReadsIsLeftToTheGuest() throws {
        let image = FakeKernel.bzImage(code64: [0xF4], payload: Array("BZh9".utf8) + [UInt8](repeating: 0, count: 60))
        let (loaded, _) = try load(image)
        #expect(loaded.decompression == .guest(reason: .noDecompressor(.bzip2)))
        #expect(loaded.entry.instructionPointer == 0x100_0200)
        // Without the xz decompressor, an xz payload goes to the guest too: the caller chooses.
        let xz = FakeKernel.bzImage(code64: [0xF4], payload: KernelPayloadFixture.xz)
        let (onlyLZ4, _) = try load(xz, decompression: .host([LZ4LegacyDecompressor()]))
        #expect(onlyLZ4.decompression == .guest(reason: .noDecompressor(.xz)))
    }

    @Test func aCallersOwnDecompressorIsUsed() throws {
        struct Reversed: Decompressor {
            var name: String { "reversed" }
            func recognizes(_ prefix: [UInt8]) -> Bool { prefix.starts(with: Array("REV!".utf8)) }
            func decompress(_ input: [UInt8], limit: Int) throws -> [UInt8] { Array(input.dropFirst(4).reversed()) }
        }
        let elf = FakeKernel.kernelELF(code64: FakeKernel.printAndReset64("reversed"))
        let image = FakeKernel.bzImage(code64: [0xF4], payload: Array("REV!".utf8) + elf.reversed())
        let (loaded, memory) = try load(image, decompression: .host([Reversed()] + .standard))
        guard case .host("reversed", _, _, _)? = loaded.decompression else { Issue.record("\(String(describing: loaded.decompression))"); return }
        #expect(try memory.readBytes(at: 0x100_0000, count: 6) == Array(FakeKernel.printAndReset64("reversed").prefix(6)))
    }

    @Test func refusals() {
        let halt: [UInt8] = [0xF4]
        #expect(loadError([]) == .emptyImage)
        #expect(loadError([UInt8](repeating: 0, count: 100)) == .truncatedHeader(format: "bzImage", needed: 0x264, actual: 100))
        #expect(loadError([UInt8](repeating: 0, count: 0x2000)) == .unrecognizedImage)
        #expect(throws: LoadError.badMagic(format: "bzImage", found: 0x6448_6F4E)) {
            try SetupHeader(image: FakeKernel.bzImage(code64: halt, magic: "NoHd"))
        }
        #expect(loadError(FakeKernel.bzImage(code64: halt, version: 0x0205)) == .unsupportedProtocolVersion(0x0205))
        #expect(loadError(FakeKernel.bzImage(code64: halt, xloadflags: 0)) == .no64BitEntry(protocolVersion: 0x020F))
        #expect(loadError(Array(FakeKernel.bzImage(code64: halt).prefix(5 * 512))) == .truncatedKernel(setupBytes: 2560, imageSize: 2560))
        // payload_length claims more than the image has.
        var outside = FakeKernel.bzImage(code64: halt, payload: KernelPayloadFixture.xz)
        outside[0x24C] = 0xFF
        outside[0x24D] = 0xFF
        #expect(loadError(outside) == .payloadOutsideImage(offset: 2560 + 0x200 + 1, length: 0xFFFF, imageSize: outside.count))
        // A corrupt LZ4 payload: the decompressor's error, named.
        let lz4 = LZ4Legacy.magicBytes + LZ4Fixture.le32(5) + [0x10, 0x41, 0x02, 0x00, 0x00]
        #expect(loadError(FakeKernel.bzImage(code64: halt, payload: lz4))
            == .decompressionFailed(format: "lz4", reason: LZ4Legacy.Failure.matchBeforeBlockStart(offset: 10, distance: 2)))
        // A payload that decompresses to something not an ELF.
        #expect(loadError(FakeKernel.bzImage(code64: halt, payload: LZ4Fixture.stream([UInt8](repeating: 1, count: 100))))
            == .badMagic(format: "ELF", found: 0x0101_0101))
    }

    @Test func imagesLargerThanRAM() {
        // The protected-mode kernel needs init_size (256 MiB here) from its load address.
        #expect(loadError(FakeKernel.bzImage(code64: [0xF4], initSize: 0x1000_0000), mebibytes: 64)
            == .kernelDoesNotFit(address: 0x10_0000, size: 0x1000_0000, totalRAM: MemoryMap(ramSize: 64 << 20).totalRAM))
        // A payload whose decompressed kernel is larger than guest RAM: the decompressor's output limit.
        let big = LZ4Fixture.stream([UInt8](repeating: 0, count: 3 << 20))
        #expect(loadError(FakeKernel.bzImage(code64: [0xF4], payload: big), mebibytes: 2)
            == .decompressionFailed(format: "lz4", reason: LZ4Legacy.Failure.outputLimit(Int(MemoryMap(ramSize: 2 << 20).totalRAM))))
    }

    @Test func initrdPlacement() throws {
        // initrd_addr_max 0x100FFFF and a 64 KiB initrd: it must end at or below the limit, above the kernel (1 MiB + 4 MiB).
        let limited = FakeKernel.bzImage(code64: [0xF4], initrdAddressMax: 0x1FF_FFFF, initSize: 0x10_0000)
        let (loaded, _) = try load(limited, initrd: [UInt8](repeating: 7, count: 0x1_0000), decompression: .guest)
        #expect(loaded.initrd == GuestAddress(0x1FF_0000)..<GuestAddress(0x200_0000), "the highest page below initrd_addr_max + 1")
        // Larger than the room between the kernel's end and initrd_addr_max.
        #expect(loadError(FakeKernel.bzImage(code64: [0xF4], initrdAddressMax: 0x100_FFFF), initrd: [UInt8](repeating: 0, count: 0x1_0000))
            == .initrdDoesNotFit(size: 0x1_0000, floor: 0x140_0000, limit: 0x101_0000))
        // Larger than RAM.
        #expect(loadError(FakeKernel.bzImage(code64: [0xF4]), initrd: [UInt8](repeating: 0, count: 70 << 20))
            == .initrdDoesNotFit(size: 70 << 20, floor: 0x140_0000, limit: 0x400_0000))
    }

    @Test func commandLineLimits() throws {
        let image = FakeKernel.bzImage(code64: [0xF4])  // cmdline_size 2047
        _ = try load(image, commandLine: String(repeating: "a", count: 2047))
        #expect(loadError(image, commandLine: String(repeating: "a", count: 2048)) == .commandLineTooLong(length: 2048, limit: 2047))
        #expect(loadError(image, commandLine: "a\u{0}b") == .commandLineContainsNUL)
    }
}

@Suite struct PVHLoading {
    @Test func startInfoMemmapModuleAndEntry() throws {
        let image = FakeKernel.pvhELF(code32: FakeKernel.printAndPowerOff32("x"))
        let (loaded, memory) = try load(image, initrd: [UInt8](repeating: 1, count: 10000), commandLine: "pvh", mebibytes: 32)
        #expect(loaded.format == .pvh)
        #expect(loaded.entry == EntryState(mode: .protected32, instructionPointer: 0x10_0000, rax: 0, rbx: 0x6000, rsi: 0))
        #expect(loaded.decompression == nil)
        #expect(try read(memory, 0x6000, as: UInt32.self) == 0x336E_C578)
        #expect(try read(memory, 0x6004, as: UInt32.self) == 1)
        #expect(try read(memory, 0x600C, as: UInt32.self) == 1, "nr_modules")
        #expect(try read(memory, 0x6010, as: UInt64.self) == 0x6100, "modlist_paddr")
        #expect(try read(memory, 0x6018, as: UInt64.self) == 0x2_0000, "cmdline_paddr")
        #expect(try read(memory, 0x6020, as: UInt64.self) == 0xE_0000, "rsdp_paddr")
        #expect(try read(memory, 0x6028, as: UInt64.self) == 0x6200, "memmap_paddr")
        #expect(try read(memory, 0x6030, as: UInt32.self) == 4, "memmap_entries")
        let initrd = try read(memory, 0x6100, as: UInt64.self)
        #expect(try read(memory, 0x6108, as: UInt64.self) == 10000)
        #expect(initrd % 4096 == 0 && initrd + 10000 <= 32 << 20 && initrd >= 0x10_2000)
        #expect(try read(memory, 0x6200 + 3 * 24, as: UInt64.self) == 0x10_0000)
        #expect(try read(memory, 0x6200 + 3 * 24 + 8, as: UInt64.self) == (32 << 20) - 0x10_0000)
        #expect(try memory.readBytes(at: 0x10_0000, count: 6) == [0x81, 0x3B, 0x78, 0xC5, 0x6E, 0x33])
        #expect(loaded.range(of: .startInfo) == GuestAddress(0x6000)..<GuestAddress(0x6038))
    }

    @Test func refusals() {
        #expect(loadError(FakeKernel.pvhELF(code32: [0xF4], withNote: false)) == .noPVHEntry)
        var wrongMachine = FakeKernel.pvhELF(code32: [0xF4])
        wrongMachine[18] = 183  // AArch64
        #expect(loadError(wrongMachine) == .unsupportedELF(elfClass: 2, machine: 183))
        var headers = FakeKernel.pvhELF(code32: [0xF4])
        headers[32] = 0xF0  // e_phoff past the end
        headers[33] = 0xFF
        #expect(loadError(headers) == .programHeadersOutsideImage)
        var segment = FakeKernel.pvhELF(code32: [0xF4])
        segment[96 + 3] = 0x10  // p_filesz of segment 0: 256 MiB more than the file
        #expect(loadError(segment) == .segmentOutsideImage(index: 0))
        var high = FakeKernel.pvhELF(code32: [0xF4])
        high[88 + 3] = 0x40  // p_paddr 1 GiB + 1 MiB, in 32 MiB of RAM
        #expect(loadError(high, mebibytes: 32) == .segmentOutsideRAM(index: 0, address: 0x4010_0000, size: 0x1001))
        var entry = FakeKernel.pvhELF(code32: [0xF4])
        entry[0x200 + 20 + 12 + 4 + 2] = 0x20  // the PHYS32_ENTRY note's value: 0x200000, past the 1-byte segment
        #expect(loadError(entry) == .entryOutsideSegments(0x20_0000))
        #expect(loadError(Array(FakeKernel.pvhELF(code32: [0xF4]).prefix(40))) == .truncatedHeader(format: "ELF", needed: 64, actual: 40))
        #expect(loadError(FakeKernel.pvhELF(code32: [0xF4]), commandLine: String(repeating: "b", count: 0x1_0000))
            == .commandLineTooLong(length: 0x1_0000, limit: 0xFFFF))
        #expect(loadError(FakeKernel.pvhELF(code32: [0xF4]), initrd: [UInt8](repeating: 0, count: 40 << 20), mebibytes: 32)
            == .initrdDoesNotFit(size: 40 << 20, floor: 0x10_1001, limit: 0x200_0000))
    }
}

@Suite struct MultibootLoading {
    @Test func elf32KernelLikeKvmUnitTests() throws {
        let image = FakeKernel.multibootELF32(message: "mb")
        let (loaded, memory) = try load(image, initrd: [UInt8](repeating: 9, count: 300), commandLine: "testargs", mebibytes: 64)
        #expect(loaded.format == .multiboot)
        #expect(loaded.entry == EntryState(mode: .protected32, instructionPointer: 0x40_000C, rax: 0x2BAD_B002, rbx: 0x6000, rsi: 0))
        #expect(loaded.kernel == GuestAddress(0x40_0000)..<GuestAddress(0x40_0000 + UInt64(image.count - 0x1000) + 0x1000))
        let flags = try read(memory, 0x6000, as: UInt32.self)
        #expect(flags == 0x1 | 0x4 | 0x8 | 0x40 | 0x200, "mem, cmdline, mods, mmap, boot_loader_name")
        #expect(try read(memory, 0x6004, as: UInt32.self) == 639, "mem_lower: KiB below the EBDA")
        #expect(try read(memory, 0x6008, as: UInt32.self) == 63 * 1024, "mem_upper: KiB from 1 MiB")
        #expect(try read(memory, 0x6010, as: UInt32.self) == 0x2_0000)
        #expect(try memory.readBytes(at: 0x2_0000, count: 9) == Array("testargs".utf8) + [0])
        #expect(try read(memory, 0x6014, as: UInt32.self) == 1, "mods_count")
        #expect(try read(memory, 0x6018, as: UInt32.self) == 0x6100, "mods_addr")
        let moduleStart = try read(memory, 0x6100, as: UInt32.self)
        #expect(try read(memory, 0x6104, as: UInt32.self) == moduleStart + 300, "mod_end")
        #expect(moduleStart % 4096 == 0 && moduleStart >= 0x40_2000)
        #expect(try memory.readBytes(at: GuestAddress(UInt64(moduleStart)), count: 2) == [9, 9])
        #expect(try read(memory, 0x602C, as: UInt32.self) == 4 * 24, "mmap_length")
        #expect(try read(memory, 0x6030, as: UInt32.self) == 0x6200, "mmap_addr")
        #expect(try read(memory, 0x6200, as: UInt32.self) == 20, "entry size")
        #expect(try read(memory, 0x6200 + 3 * 24 + 4, as: UInt64.self) == 0x10_0000)
        #expect(try read(memory, 0x6200 + 3 * 24 + 20, as: UInt32.self) == 1)
        let name = try read(memory, 0x6040, as: UInt32.self)
        #expect(try memory.readBytes(at: GuestAddress(UInt64(name)), count: 9) == Array("swift-kvm".utf8))
        #expect(try memory.readBytes(at: 0x40_000C, count: 5) == [0x3D, 0x02, 0xB0, 0xAD, 0x2B], "the segment at p_paddr")
        #expect(try memory.readBytes(at: GuestAddress(0x40_0000 + UInt64(image.count - 0x1000)), count: 16) == [UInt8](repeating: 0, count: 16), "bss")
    }

    @Test func flatKernelWithAddressFields() throws {
        let image = FakeKernel.multibootFlat(message: "flat")
        let (loaded, memory) = try load(image)
        #expect(loaded.entry == EntryState(mode: .protected32, instructionPointer: 0x20_0020, rax: 0x2BAD_B002, rbx: 0x6000, rsi: 0))
        #expect(loaded.kernel == GuestAddress(0x20_0000)..<GuestAddress(0x20_2000), "to bss_end_addr")
        #expect(try memory.readBytes(at: 0x20_0000, count: image.count) == image)
        #expect(try read(memory, 0x6000, as: UInt32.self) & 0x8 == 0, "no initrd: no modules")
    }

    @Test func refusals() {
        #expect(loadError(FakeKernel.multibootELF32(message: "x", badChecksum: true)) == .multibootChecksum(headerOffset: 0x1000))
        #expect(loadError(FakeKernel.multibootELF32(message: "x", flags: 0x7)) == .multibootUnsupportedFlags(0x7), "video mode")
        #expect(loadError(FakeKernel.multibootELF32(message: "x", flags: 0x8003)) == .multibootUnsupportedFlags(0x8003), "an unknown required bit")
        #expect(loadError(FakeKernel.multibootELF32(message: "x", machine: 40)) == .unsupportedELF(elfClass: 1, machine: 40))
        #expect(loadError(FakeKernel.multibootHeader(flags: 0x3) + [0xF4]) == .multibootNotLoadable)
        #expect(loadError(FakeKernel.multibootHeader(flags: 0x1_0003, fields: [0x20_0000])) == .truncatedHeader(format: "multiboot", needed: 32, actual: 16))
        let load: UInt32 = 0x20_0000
        #expect(loadError(FakeKernel.multibootFlat(message: "x", fields: [load + 16, load, 0, 0, load + 32]))
            == .multibootBadAddresses("load_addr 0x200000 lies 16 bytes before the header, which is at file offset 0"))
        #expect(loadError(FakeKernel.multibootFlat(message: "x", fields: [load, load, load + 0x10_0000, 0, load + 32]))
            == .multibootBadAddresses("load_end_addr asks for 1048576 bytes from file offset 0; the file has 68"))
        #expect(loadError(FakeKernel.multibootFlat(message: "x", fields: [load, load, 0, 0, load + 0x1000]))
            == .multibootBadAddresses("entry_addr 0x201000 lies outside the loaded image 0x200000-0x200044"))
        // Loaded over the command line's place.
        #expect(loadError(FakeKernel.multibootFlat(message: "x", load: 0x2_0000))
            == .overlapsBootStructure(structure: "commandLine", kernelStart: 0x2_0000, kernelEnd: 0x2_2000))
        // Larger than RAM (bss to 96 MiB in 64).
        #expect(loadError(FakeKernel.multibootFlat(message: "x", fields: [load, load, 0, 0x600_0000, load + 32]))
            == .kernelDoesNotFit(address: 0x20_0000, size: 0x600_0000 - 0x20_0000, totalRAM: MemoryMap(ramSize: 64 << 20).totalRAM))
    }
}

@Suite struct MemoryMaps {
    @Test func pcLayoutEntriesAndSlots() {
        let small = MemoryMap(ramSize: 64 << 20)
        #expect(small.entries.map(\.kind) == [.ram, .reserved, .reserved, .ram])
        #expect(small.slots.map { [$0.address, $0.size] } == [[0, 64 << 20]])
        #expect(small.totalRAM == (64 << 20) - 0x60400, "the EBDA and BIOS area are reserved")
        let large = MemoryMap(ramSize: 4 << 30)
        #expect(large.slots.map { [$0.address, $0.size] } == [[0, 0xC000_0000], [0x1_0000_0000, 0x4000_0000]])
        #expect(large.lowRAMEnd == 0xC000_0000)
        #expect(large.isRAM(0x1_0000_0000, size: 0x4000_0000) && !large.isRAM(0xBFFF_F000, size: 0x2000))
    }

    @Test func callersMapsAreChecked() throws {
        #expect(throws: MemoryMap.Failure.overlapping(index: 1)) {
            try MemoryMap(entries: [E820Entry(address: 0, size: 0x2000, kind: .ram), E820Entry(address: 0x1000, size: 0x1000, kind: .ram)])
        }
        #expect(throws: MemoryMap.Failure.wraps(index: 0)) { try MemoryMap(entries: [E820Entry(address: .max, size: 2, kind: .ram)]) }
        let custom = try MemoryMap(entries: [
            E820Entry(address: 0, size: 0x9_F000, kind: .ram), E820Entry(address: 0x10_0000, size: 0x70_0000, kind: .ram),
            E820Entry(address: 0x80_0000, size: 0x1000, kind: E820Entry.Kind(rawValue: 12)),
        ])
        #expect(custom.entries[2].kind.description == "type 12", "unknown e820 types are kept")
        let memory = try guestMemory(custom)
        let loaded = try KernelLoader(memoryMap: custom).load(
            kernel: ImageBytes(FakeKernel.pvhELF(code32: [0xF4])), initrd: ImageBytes([1, 2, 3]), commandLine: "", into: memory)
        #expect(loaded.initrd == GuestAddress(0x7F_F000)..<GuestAddress(0x7F_F003), "the top page of the RAM entry")
    }
}

@Suite struct MalformedImages {
    /// Corrupted and truncated copies of every format's image: each loads or throws a LoadError; none traps.
    @Test func mutatedImagesNeverTrap() throws {
        let map = MemoryMap(ramSize: 32 << 20)
        let memory = try guestMemory(map)
        let loader = KernelLoader(memoryMap: map)
        let seeds = [
            FakeKernel.bzImage(code64: [0xF4], payload: LZ4Fixture.stream(FakeKernel.kernelELF(code64: [0xF4]))),
            FakeKernel.bzImage(code64: [0xF4], payload: KernelPayloadFixture.xz),
            FakeKernel.bzImage(code64: [0xF4], payload: KernelPayloadFixture.zstd),
            FakeKernel.pvhELF(code32: [0xF4]),
            FakeKernel.multibootELF32(message: "m"),
            FakeKernel.multibootFlat(message: "f"),
        ]
        var other = 0
        let rejected = rejectedMutations(of: seeds, keeping: 0, seed: 0xC0FF_EE00, rounds: 1500) { image in
            do {
                _ = try loader.load(kernel: ImageBytes(image), initrd: ImageBytes([1, 2, 3]), commandLine: "x", into: memory)
            } catch {
                if !(error is LoadError) { other += 1 }
                throw error
            }
        }
        #expect(rejected > 0)
        #expect(other == 0, "every refusal is a LoadError")
    }
}
