// Synthetic multiboot (v1) kernels: an ELF32 like kvm-unit-tests' `.flat` files (one PT_LOAD at 4 MiB,
// the multiboot header at the start of its code), and a flat binary that gives its load addresses in the
// header (flag 16, the a.out kludge).

extension FakeKernel {
    public static let multibootMagic: UInt32 = 0x1BAD_B002
    /// Where the ELF32 multiboot kernel's segment goes.
    public static let multibootELFLoad: UInt32 = 0x40_0000
    /// Where the flat multiboot kernel is loaded.
    public static let multibootFlatLoad: UInt32 = 0x20_0000

    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    /// A multiboot header: magic, flags, checksum (unless `badChecksum`), then `fields` (the a.out-kludge addresses).
    public static func multibootHeader(flags: UInt32, fields: [UInt32] = [], badChecksum: Bool = false) -> [UInt8] {
        let checksum = 0 &- multibootMagic &- flags &+ (badChecksum ? 1 : 0)
        return le32(multibootMagic) + le32(flags) + le32(checksum) + fields.flatMap(le32)
    }

    /// 32-bit code at `base`: checks EAX is the multiboot boot loader magic 0x2BADB002, prints `message`
    /// on COM1, then powers off through the ACPI sleep control register (port 0x600).
    public static func multibootPrintAndPowerOff32(_ message: String, base: UInt32) -> [UInt8] {
        [0x3D, 0x02, 0xB0, 0xAD, 0x2B,  // 0: cmp eax, 0x2badb002
         0x75, 0x18,  // 5: jne hang (31)
         0xBE] + le32(base + 34)  // 7: mov esi, message
            + [0x66, 0xBA, 0xF8, 0x03,  // 12: mov dx, 0x3f8
               0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8,  // 16: print loop, done at 24
               0x66, 0xBA, 0x00, 0x06,  // 24: mov dx, 0x600
               0xB0, 0x34,  // 28: mov al, 5 << 2 | 0x20
               0xEE,  // 30: out dx, al
               0xF4, 0xEB, 0xFD]  // 31: hang
            + Array(message.utf8) + [0]  // 34
    }

    /// An ELF32 (i386) multiboot kernel: the header (flags 0x3: page-aligned modules, memory information)
    /// at the start of the one PT_LOAD segment (file offset 0x1000 → `multibootELFLoad`, 4 KiB of bss),
    /// the entry point just after it. `flags` and `machine` can be overridden to make bad images.
    public static func multibootELF32(message: String, flags: UInt32 = 0x3, machine: UInt16 = 3, badChecksum: Bool = false) -> [UInt8] {
        let header = multibootHeader(flags: flags, badChecksum: badChecksum)
        let entry = multibootELFLoad + UInt32(header.count)
        let code = header + multibootPrintAndPowerOff32(message, base: entry)
        var image = [UInt8](repeating: 0, count: 0x1000)
        func put<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
            for index in 0..<MemoryLayout<T>.size { image[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
        }
        image.replaceSubrange(0..<4, with: [0x7F, 0x45, 0x4C, 0x46])
        put(UInt8(1), 4)  // 32-bit
        put(UInt8(1), 5)  // little-endian
        put(UInt8(1), 6)
        put(UInt16(2), 16)  // ET_EXEC
        put(machine, 18)  // EM_386
        put(UInt32(1), 20)
        put(entry, 24)  // e_entry
        put(UInt32(52), 28)  // e_phoff
        put(UInt16(52), 40)  // e_ehsize
        put(UInt16(32), 42)  // e_phentsize
        put(UInt16(1), 44)  // e_phnum
        put(UInt32(1), 52)  // PT_LOAD
        put(UInt32(0x1000), 56)  // p_offset
        put(multibootELFLoad, 60)  // p_vaddr
        put(multibootELFLoad, 64)  // p_paddr
        put(UInt32(code.count), 68)  // p_filesz
        put(UInt32(code.count + 0x1000), 72)  // p_memsz: 4 KiB of bss
        put(UInt32(5), 76)
        return image + code
    }

    /// A flat multiboot kernel: the header with flag 16 (header_addr = load_addr = `load`, load_end_addr
    /// 0: the whole file, bss_end_addr 8 KiB past the load address, entry after the header), then the code.
    /// `fields` replaces the five address fields to make bad images.
    public static func multibootFlat(message: String, load: UInt32 = multibootFlatLoad, fields: [UInt32]? = nil) -> [UInt8] {
        let entry = load + 32
        let header = multibootHeader(flags: 0x1_0003, fields: fields ?? [load, load, 0, load + 0x2000, entry])
        return header + multibootPrintAndPowerOff32(message, base: entry)
    }
}
