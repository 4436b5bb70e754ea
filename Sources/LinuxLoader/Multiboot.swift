// Multiboot (version 1, the GNU Multiboot Specification 0.6.96): what small test kernels use, and what
// kvm-unit-tests' x86 `.flat` files are. The header (magic 0x1BADB002, flags, checksum) lies 4-byte
// aligned in the first 8 KiB; the kernel is an ELF file (PT_LOAD segments at their physical addresses)
// or, with flag 16, gives its load range in the header (the "a.out kludge": header_addr, load_addr,
// load_end_addr, bss_end_addr, entry_addr). The loader writes the multiboot information (mem_lower and
// mem_upper, the command line, the initrd as module 0, the memory map, the loader's name) and enters in
// 32-bit flat protected mode with EAX = 0x2BADB002 and EBX = the information's address.

import KVM

enum Multiboot {
    static let headerMagic: UInt32 = 0x1BAD_B002
    static let bootloaderMagic: UInt32 = 0x2BAD_B002
    static let searchLength = 8192

    // Header flags: bits 0-15 are requirements the loader must meet or refuse the kernel.
    static let pageAlignModules: UInt32 = 1 << 0
    static let memoryInfo: UInt32 = 1 << 1
    static let videoMode: UInt32 = 1 << 2
    static let addressFields: UInt32 = 1 << 16
    static let supportedRequirements = pageAlignModules | memoryInfo

    // Information flags.
    static let infoMemory: UInt32 = 1 << 0
    static let infoCommandLine: UInt32 = 1 << 2
    static let infoModules: UInt32 = 1 << 3
    static let infoMemoryMap: UInt32 = 1 << 6
    static let infoLoaderName: UInt32 = 1 << 9
    /// struct multiboot_info up to and including the framebuffer fields.
    static let infoSize = 116
    static let moduleEntrySize = 16
    static let memoryMapEntrySize = 24
    static let loaderName = "swift-kvm LinuxLoader"

    struct Header {
        var offset: Int
        var flags: UInt32
        /// header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr (flag 16).
        var addresses: (header: UInt32, load: UInt32, loadEnd: UInt32, bssEnd: UInt32, entry: UInt32)?

        /// The first multiboot header in `head` (the image's first 8 KiB), nil if there is none; throws
        /// when it is there but wrong (checksum, requirements, truncated).
        init?(searching head: [UInt8]) throws(LoadError) {
            let reader = LittleEndianReader(head)
            guard let offset = stride(from: 0, to: min(head.count, Multiboot.searchLength) - 3, by: 4).first(where: { reader.read(UInt32.self, at: $0) == Multiboot.headerMagic })
            else { return nil }
            guard let flags = reader.read(UInt32.self, at: offset + 4), let checksum = reader.read(UInt32.self, at: offset + 8) else {
                throw .truncatedHeader(format: "multiboot", needed: offset + 12, actual: head.count)
            }
            guard Multiboot.headerMagic &+ flags &+ checksum == 0 else { throw .multibootChecksum(headerOffset: offset) }
            guard flags & 0xFFFF & ~Multiboot.supportedRequirements == 0 else { throw .multibootUnsupportedFlags(flags) }
            self.offset = offset
            self.flags = flags
            if flags & Multiboot.addressFields != 0 {
                guard let header = reader.read(UInt32.self, at: offset + 12), let load = reader.read(UInt32.self, at: offset + 16),
                    let loadEnd = reader.read(UInt32.self, at: offset + 20), let bssEnd = reader.read(UInt32.self, at: offset + 24),
                    let entry = reader.read(UInt32.self, at: offset + 28)
                else { throw .truncatedHeader(format: "multiboot", needed: offset + 32, actual: head.count) }
                addresses = (header, load, loadEnd, bssEnd, entry)
            }
        }
    }
}

extension KernelLoader {
    func loadMultiboot(
        header: Multiboot.Header, elf: ELFImage?, kernel: any ImageSource, initrd: (any ImageSource)?, commandLine: String,
        memory: GuestMemory
    ) throws(LoadError) -> LoadedKernel {
        try checkCommandLine(commandLine, limit: layout.commandLineCapacity - 1)
        let entries = Array(memoryMap.entries.prefix(ZeroPage.e820MaxEntries))
        let namesAddress = GuestAddress(layout.startInfo.rawValue + 0x80)
        let names = Array(Multiboot.loaderName.utf8) + [0] + Array("initrd".utf8) + [0]
        var structures = [
            Placement(kind: .multibootInfo, range: range(layout.startInfo, Multiboot.infoSize)),
            Placement(kind: .bootLoaderName, range: range(namesAddress, names.count)),
            Placement(kind: .memoryMap, range: range(layout.memoryMap, entries.count * Multiboot.memoryMapEntrySize)),
            Placement(kind: .commandLine, range: range(layout.commandLine, commandLine.utf8.count + 1)),
        ]
        let hasInitrd = initrd.map { $0.size > 0 } ?? false
        if hasInitrd { structures.insert(Placement(kind: .moduleList, range: range(layout.moduleList, Multiboot.moduleEntrySize)), at: 2) }
        // Every pointer in the information is 32-bit.
        for structure in structures where structure.range.upperBound.rawValue > MemoryMap.fourGiB {
            throw .guestMemory(.addressNotMapped(structure.range.lowerBound))
        }

        let extent: Range<UInt64>
        let entry: UInt64
        if let addresses = header.addresses {
            // The a.out kludge: [load_addr, load_end_addr) comes from the file, from the offset at which
            // the header sits minus (header_addr - load_addr); bss up to bss_end_addr is zeroed.
            let load = UInt64(addresses.load)
            guard addresses.header >= addresses.load else { throw .multibootBadAddresses("header_addr \(hex(addresses.header)) is below load_addr \(hex(addresses.load))") }
            let headerDistance = Int(addresses.header - addresses.load)
            guard headerDistance <= header.offset else {
                throw .multibootBadAddresses("load_addr \(hex(addresses.load)) lies \(headerDistance) bytes before the header, which is at file offset \(header.offset)")
            }
            let fileOffset = header.offset - headerDistance
            let loadSize: Int
            if addresses.loadEnd == 0 {
                loadSize = kernel.size - fileOffset
            } else {
                guard addresses.loadEnd > addresses.load else { throw .multibootBadAddresses("load_end_addr \(hex(addresses.loadEnd)) is not above load_addr \(hex(addresses.load))") }
                loadSize = Int(addresses.loadEnd - addresses.load)
                guard loadSize <= kernel.size - fileOffset else {
                    throw .multibootBadAddresses("load_end_addr asks for \(loadSize) bytes from file offset \(fileOffset); the file has \(kernel.size)")
                }
            }
            let loadEnd = load + UInt64(loadSize)
            let end = max(loadEnd, UInt64(addresses.bssEnd))
            guard addresses.bssEnd == 0 || UInt64(addresses.bssEnd) >= loadEnd else {
                throw .multibootBadAddresses("bss_end_addr \(hex(addresses.bssEnd)) is below the end of the loaded image \(hex(loadEnd))")
            }
            guard UInt64(addresses.entry) >= load, UInt64(addresses.entry) < loadEnd else {
                throw .multibootBadAddresses("entry_addr \(hex(addresses.entry)) lies outside the loaded image \(hex(load))-\(hex(loadEnd))")
            }
            guard memoryMap.isRAM(load, size: end - load) else { throw .kernelDoesNotFit(address: load, size: end - load, totalRAM: memoryMap.totalRAM) }
            try checkClear(load..<end, of: structures)
            do {
                try kernel.copy(from: fileOffset, count: loadSize, to: GuestAddress(load), in: memory)
            } catch {
                throw .image(error)
            }
            if end > loadEnd { try zero(at: GuestAddress(loadEnd), count: end - loadEnd, memory) }
            extent = load..<end
            entry = UInt64(addresses.entry)
        } else if let elf {
            extent = try loadSegments(of: elf, from: kernel, structures: structures, memory: memory)
            entry = try elf.physicalEntry()
            guard entry < MemoryMap.fourGiB else { throw .entryOutsideSegments(entry) }
        } else {
            throw .multibootNotLoadable
        }

        let placedInitrd = try placeInitrd(initrd, below: MemoryMap.fourGiB, above: extent.upperBound, avoiding: structures, memory: memory)
        try write(Array(commandLine.utf8) + [0], at: layout.commandLine, memory)
        try write(names, at: namesAddress, memory)

        var info = LittleEndianBuffer(count: Multiboot.infoSize)
        var flags = Multiboot.infoMemory | Multiboot.infoCommandLine | Multiboot.infoMemoryMap | Multiboot.infoLoaderName
        // mem_lower: KiB of RAM from 0 (at most 640); mem_upper: KiB of RAM from 1 MiB up to the first hole.
        let lower = entries.first { $0.kind == .ram && $0.address == 0 }.map { min($0.end, MemoryMap.conventionalEnd) } ?? 0
        let upper = entries.first { $0.kind == .ram && $0.address <= MemoryMap.highMemoryStart && $0.end > MemoryMap.highMemoryStart }
            .map { $0.end - MemoryMap.highMemoryStart } ?? 0
        info.put(UInt32(lower / 1024), at: 4)
        info.put(UInt32(clamping: upper / 1024), at: 8)
        info.put(UInt32(truncatingIfNeeded: layout.commandLine.rawValue), at: 16)
        if let placedInitrd {
            flags |= Multiboot.infoModules
            info.put(UInt32(1), at: 20)
            info.put(UInt32(truncatingIfNeeded: layout.moduleList.rawValue), at: 24)
            var module = LittleEndianBuffer()
            module.append(UInt32(truncatingIfNeeded: placedInitrd.lowerBound))
            module.append(UInt32(truncatingIfNeeded: placedInitrd.upperBound))
            module.append(UInt32(truncatingIfNeeded: namesAddress.rawValue) + UInt32(Multiboot.loaderName.utf8.count + 1))  // "initrd"
            module.append(UInt32(0))
            try write(module.bytes, at: layout.moduleList, memory)
        }
        var map = LittleEndianBuffer()
        for entry in entries {
            map.append(UInt32(20))  // size of the entry after this field
            map.append(entry.address)
            map.append(entry.size)
            map.append(entry.kind.rawValue)
        }
        info.put(UInt32(map.count), at: 44)
        info.put(UInt32(truncatingIfNeeded: layout.memoryMap.rawValue), at: 48)
        info.put(UInt32(truncatingIfNeeded: namesAddress.rawValue), at: 64)
        info.put(flags, at: 0)
        try write(map.bytes, at: layout.memoryMap, memory)
        try write(info.bytes, at: layout.startInfo, memory)

        var placements = [Placement(kind: .kernel, range: GuestAddress(extent.lowerBound)..<GuestAddress(extent.upperBound))]
        if let placedInitrd { placements.append(Placement(kind: .initrd, range: GuestAddress(placedInitrd.lowerBound)..<GuestAddress(placedInitrd.upperBound))) }
        return LoadedKernel(
            format: .multiboot,
            entry: EntryState(
                mode: .protected32, instructionPointer: GuestAddress(entry), rax: UInt64(Multiboot.bootloaderMagic),
                rbx: layout.startInfo.rawValue, rsi: 0),
            decompression: nil, placements: placements + structures)
    }
}
