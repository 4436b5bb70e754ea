// An ELF executable: its PT_LOAD segments, which go to their physical addresses (p_paddr); its entry point
// (e_entry); and, when it has one, its PVH entry point: the physical address of a 32-bit entry in a Xen
// ELF note (XEN_ELFNOTE_PHYS32_ENTRY = 18) of a PT_NOTE segment. ELF64 x86-64 (a vmlinux, the kernel
// ELF inside a bzImage) and ELF32 i386 (multiboot kernels, kvm-unit-tests' `.flat` files). Every
// offset and size comes from the file and is checked against it before use.

import KVM

struct ELFImage {
    /// A PT_LOAD segment: `fileSize` bytes from `fileOffset` go to `physicalAddress`; the rest of
    /// `memorySize` is zero.
    struct Segment: Equatable {
        var index: Int
        var physicalAddress: UInt64
        var virtualAddress: UInt64
        var fileOffset: Int
        var fileSize: Int
        var memorySize: UInt64
    }

    static let ptLoad: UInt32 = 1
    static let ptNote: UInt32 = 4
    static let xenPhys32Entry: UInt32 = 18
    static let machineX8664: UInt16 = 62
    static let machine386: UInt16 = 3

    let is64Bit: Bool
    let segments: [Segment]
    /// The 32-bit physical PVH entry point, if the kernel has the note.
    let pvhEntry: UInt32?
    /// e_entry.
    let entry: UInt64

    static func isELF(_ image: [UInt8]) -> Bool { image.starts(with: [0x7F, 0x45, 0x4C, 0x46]) }

    /// Parses the ELF header and program headers of `source`, and looks for the PVH note.
    init(source: some ImageSource) throws(LoadError) {
        guard let ident = source.bytes(at: 0, count: min(64, source.size)), Self.isELF(ident) else {
            throw .badMagic(format: "ELF", found: UInt64(LittleEndianReader(source.bytes(at: 0, count: min(4, source.size)) ?? []).read(UInt32.self, at: 0) ?? 0))
        }
        let header = LittleEndianReader(ident)
        let elfClass = header.read(UInt8.self, at: 4) ?? 0
        let data = header.read(UInt8.self, at: 5) ?? 0
        let is64Bit = elfClass == 2
        let headerSize = is64Bit ? 64 : 52
        guard ident.count >= headerSize else { throw .truncatedHeader(format: "ELF", needed: headerSize, actual: ident.count) }
        let machine = header.read(UInt16.self, at: 18) ?? 0
        // EI_DATA 1 = little-endian; ELF64 for x86-64, ELF32 for i386 (or x86-64 code in an ELF32 container, as
        // kvm-unit-tests' objcopy -O elf32-i386 leaves it).
        guard data == 1, (is64Bit && machine == Self.machineX8664) || (elfClass == 1 && (machine == Self.machine386 || machine == Self.machineX8664))
        else { throw .unsupportedELF(elfClass: elfClass, machine: machine) }
        let entry: UInt64
        let phoff: UInt64
        let phentsize: Int
        let phnum: Int
        if is64Bit {
            entry = header.read(UInt64.self, at: 24) ?? 0
            phoff = header.read(UInt64.self, at: 32) ?? 0
            phentsize = Int(header.read(UInt16.self, at: 54) ?? 0)
            phnum = Int(header.read(UInt16.self, at: 56) ?? 0)
        } else {
            entry = UInt64(header.read(UInt32.self, at: 24) ?? 0)
            phoff = UInt64(header.read(UInt32.self, at: 28) ?? 0)
            phentsize = Int(header.read(UInt16.self, at: 42) ?? 0)
            phnum = Int(header.read(UInt16.self, at: 44) ?? 0)
        }
        let entrySize = is64Bit ? 56 : 32
        guard phentsize >= entrySize, phoff <= UInt64(source.size), let table = source.bytes(at: Int(phoff), count: phnum * phentsize)
        else { throw .programHeadersOutsideImage }
        let reader = LittleEndianReader(table)
        var segments: [Segment] = []
        var pvhEntry: UInt32?
        for index in 0..<phnum {
            let base = index * phentsize
            let type = reader.read(UInt32.self, at: base) ?? 0
            let offset, vaddr, paddr, filesz, memsz: UInt64
            if is64Bit {
                offset = reader.read(UInt64.self, at: base + 8) ?? 0
                vaddr = reader.read(UInt64.self, at: base + 16) ?? 0
                paddr = reader.read(UInt64.self, at: base + 24) ?? 0
                filesz = reader.read(UInt64.self, at: base + 32) ?? 0
                memsz = reader.read(UInt64.self, at: base + 40) ?? 0
            } else {
                offset = UInt64(reader.read(UInt32.self, at: base + 4) ?? 0)
                vaddr = UInt64(reader.read(UInt32.self, at: base + 8) ?? 0)
                paddr = UInt64(reader.read(UInt32.self, at: base + 12) ?? 0)
                filesz = UInt64(reader.read(UInt32.self, at: base + 16) ?? 0)
                memsz = UInt64(reader.read(UInt32.self, at: base + 20) ?? 0)
            }
            guard type == Self.ptLoad || type == Self.ptNote else { continue }
            guard offset <= UInt64(source.size), filesz <= UInt64(source.size) - offset, filesz <= memsz || type != Self.ptLoad
            else { throw .segmentOutsideImage(index: index) }
            if type == Self.ptLoad {
                segments.append(
                    Segment(index: index, physicalAddress: paddr, virtualAddress: vaddr, fileOffset: Int(offset), fileSize: Int(filesz), memorySize: memsz))
            } else if pvhEntry == nil, let notes = source.bytes(at: Int(offset), count: Int(filesz)) {
                pvhEntry = Self.pvhEntry(in: LittleEndianReader(notes), size: notes.count)
            }
        }
        self.is64Bit = is64Bit
        self.segments = segments
        self.pvhEntry = pvhEntry
        self.entry = entry
    }

    /// The physical address of e_entry. A kernel's e_entry is already physical (x86-64 vmlinux is linked
    /// with ENTRY(phys_startup_64), and the decompressor takes it as such); otherwise it is translated
    /// through the PT_LOAD segment whose virtual range holds it.
    func physicalEntry() throws(LoadError) -> UInt64 {
        for segment in segments
        where entry >= segment.physicalAddress && entry - segment.physicalAddress < UInt64(segment.fileSize) {
            return entry
        }
        for segment in segments
        where entry >= segment.virtualAddress && entry - segment.virtualAddress < UInt64(segment.fileSize) {
            let offset = entry - segment.virtualAddress
            guard segment.physicalAddress <= UInt64.max - offset else { break }
            return segment.physicalAddress + offset
        }
        throw .entryOutsideSegments(entry)
    }

    /// Walks the notes of one PT_NOTE segment for the Xen PHYS32_ENTRY note.
    static func pvhEntry(in reader: LittleEndianReader, size: Int) -> UInt32? {
        var cursor = 0
        while cursor + 12 <= size {
            guard let nameSize = reader.read(UInt32.self, at: cursor), let descSize = reader.read(UInt32.self, at: cursor + 4),
                let type = reader.read(UInt32.self, at: cursor + 8)
            else { return nil }
            // Sizes are 32-bit: their sums stay far below Int.max, and `next` is checked against `size`.
            let nameStart = cursor + 12
            let descStart = nameStart + Int(alignUp(UInt64(nameSize), 4))
            let next = descStart + Int(alignUp(UInt64(descSize), 4))
            guard next <= size, next > cursor else { return nil }
            let name = reader.slice(at: nameStart, count: Int(nameSize)) ?? []
            if type == xenPhys32Entry, name.starts(with: Array("Xen".utf8)), descSize >= 4 {
                return reader.read(UInt32.self, at: descStart)
            }
            cursor = next
        }
        return nil
    }

    /// The lowest and highest physical addresses the segments occupy (each segment was checked to lie
    /// in RAM first, so the sums cannot wrap).
    var physicalExtent: Range<UInt64> {
        let loaded = segments.filter { $0.memorySize > 0 }
        let low = loaded.map(\.physicalAddress).min() ?? 0
        let high = loaded.map { $0.physicalAddress &+ $0.memorySize }.max() ?? 0
        return low..<max(low, high)
    }
}
