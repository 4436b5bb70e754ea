// An uncompressed `vmlinux` (ELF64): its PT_LOAD segments, which go to their physical addresses
// (p_paddr); its entry point (e_entry, virtual: `startup_64`, entered in 64-bit mode by the kernel's own
// decompressor); and, when the kernel has one, its PVH entry point: the physical address of a 32-bit
// entry in a Xen ELF note (XEN_ELFNOTE_PHYS32_ENTRY = 18) of a PT_NOTE segment.

struct ELFImage {
    enum Failure: Error, Equatable, CustomStringConvertible {
        case notELF
        case not64BitLittleEndianX86
        case badProgramHeaders
        case segmentOutsideFile(index: Int)
        case noPVHEntry
        case entryOutsideSegments(UInt64)

        var description: String {
            switch self {
            case .notELF: return "not an ELF file"
            case .not64BitLittleEndianX86: return "not a 64-bit little-endian x86-64 ELF file"
            case .badProgramHeaders: return "program headers lie outside the file"
            case .segmentOutsideFile(let index): return "program header \(index) points outside the file"
            case .noPVHEntry:
                return "no PVH entry point (Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY, type 18): build the kernel with CONFIG_PVH=y, or boot its bzImage"
            case .entryOutsideSegments(let entry):
                return "the entry point \(hex(entry)) lies in no PT_LOAD segment"
            }
        }
    }

    /// A PT_LOAD segment: `fileSize` bytes from `fileOffset` go to `physicalAddress`; the rest of
    /// `memorySize` is zero.
    struct Segment: Equatable {
        var physicalAddress: UInt64
        var virtualAddress: UInt64
        var fileOffset: Int
        var fileSize: Int
        var memorySize: UInt64
    }

    static let ptLoad: UInt32 = 1
    static let ptNote: UInt32 = 4
    static let xenPhys32Entry: UInt32 = 18

    let segments: [Segment]
    /// The 32-bit physical PVH entry point, if the kernel has the note.
    let pvhEntry: UInt32?
    /// e_entry (a virtual address for a kernel).
    let entry: UInt64

    static func isELF(_ image: [UInt8]) -> Bool { image.starts(with: [0x7F, 0x45, 0x4C, 0x46]) }

    /// Parses the ELF header and program headers of `source`, and looks for the PVH note.
    init(source: some ImageSource) throws(Failure) {
        guard let ident = source.bytes(at: 0, count: 64), Self.isELF(ident) else { throw .notELF }
        let header = ByteReader(ident)
        // EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian, e_machine 62 = x86-64.
        guard header.read(UInt8.self, at: 4) == 2, header.read(UInt8.self, at: 5) == 1, header.read(UInt16.self, at: 18) == 62
        else { throw .not64BitLittleEndianX86 }
        guard let phoff = header.read(UInt64.self, at: 32), let phentsize = header.read(UInt16.self, at: 54),
            let phnum = header.read(UInt16.self, at: 56), let entry = header.read(UInt64.self, at: 24), phentsize >= 56,
            phoff < UInt64(source.size),
            let table = source.bytes(at: Int(phoff), count: Int(phnum) * Int(phentsize))
        else { throw .badProgramHeaders }
        let reader = ByteReader(table)
        var segments: [Segment] = []
        var pvhEntry: UInt32?
        for index in 0..<Int(phnum) {
            let base = index * Int(phentsize)
            guard let type = reader.read(UInt32.self, at: base), let offset = reader.read(UInt64.self, at: base + 8),
                let vaddr = reader.read(UInt64.self, at: base + 16), let paddr = reader.read(UInt64.self, at: base + 24),
                let filesz = reader.read(UInt64.self, at: base + 32),
                let memsz = reader.read(UInt64.self, at: base + 40)
            else { throw .badProgramHeaders }
            guard offset <= UInt64(source.size), filesz <= UInt64(source.size) - offset, filesz <= memsz || type != Self.ptLoad
            else { throw .segmentOutsideFile(index: index) }
            if type == Self.ptLoad {
                segments.append(Segment(physicalAddress: paddr, virtualAddress: vaddr, fileOffset: Int(offset), fileSize: Int(filesz), memorySize: memsz))
            } else if type == Self.ptNote, pvhEntry == nil, let notes = source.bytes(at: Int(offset), count: Int(filesz)) {
                pvhEntry = Self.pvhEntry(in: ByteReader(notes), notesAt: 0, size: notes.count)
            }
        }
        self.segments = segments
        self.pvhEntry = pvhEntry
        self.entry = entry
    }

    /// The physical address of e_entry. A kernel's e_entry is already physical (x86-64 vmlinux is linked
    /// with ENTRY(phys_startup_64), and the decompressor takes it as such); otherwise it is translated
    /// through the PT_LOAD segment whose virtual range holds it.
    func physicalEntry() throws(Failure) -> UInt64 {
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
    static func pvhEntry(in reader: ByteReader, notesAt start: Int, size: Int) -> UInt32? {
        var cursor = start
        let end = start + size
        while cursor + 12 <= end {
            guard let nameSize = reader.read(UInt32.self, at: cursor), let descSize = reader.read(UInt32.self, at: cursor + 4),
                let type = reader.read(UInt32.self, at: cursor + 8)
            else { return nil }
            let nameStart = cursor + 12
            let descStart = nameStart + Int(alignUp(UInt64(nameSize), 4))
            let next = descStart + Int(alignUp(UInt64(descSize), 4))
            guard next <= end, next > cursor else { return nil }
            let name = reader.slice(at: nameStart, count: Int(nameSize)) ?? []
            if type == xenPhys32Entry, name.starts(with: Array("Xen".utf8)), descSize >= 4 {
                return reader.read(UInt32.self, at: descStart)
            }
            cursor = next
        }
        return nil
    }

    /// The lowest and highest physical addresses the segments occupy.
    var physicalExtent: (low: UInt64, high: UInt64) {
        let low = segments.map(\.physicalAddress).min() ?? 0
        let high = segments.map { $0.physicalAddress &+ $0.memorySize }.max() ?? 0  // callers check each segment is RAM first
        return (low, high)
    }
}
