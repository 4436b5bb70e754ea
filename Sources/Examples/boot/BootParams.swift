// The x86 Linux boot protocol (Documentation/arch/x86/boot.rst): the setup header of a bzImage and the
// zero page (`struct boot_params`, zero-page.rst) the VMM fills for the 64-bit entry point.

/// A bzImage's setup header, parsed and checked for what the 64-bit boot protocol needs.
struct SetupHeader: Equatable {
    enum Failure: Error, Equatable, CustomStringConvertible {
        case tooSmall(Int)
        case noHeaderMagic
        case protocolTooOld(UInt16)
        case not64Bit(version: UInt16)
        case truncatedKernel(expected: Int, actual: Int)

        var description: String {
            switch self {
            case .tooSmall(let size): return "\(size) bytes is too small for a bzImage (no setup header)"
            case .noHeaderMagic: return "no \"HdrS\" at offset 0x202: not a bzImage"
            case .protocolTooOld(let version):
                return "boot protocol \(SetupHeader.versionString(version)) is older than 2.06"
            case .not64Bit(let version):
                return "the kernel (boot protocol \(SetupHeader.versionString(version))) does not set XLF_KERNEL_64 in xloadflags: it has no 64-bit entry point"
            case .truncatedKernel(let expected, let actual):
                return "the image has \(actual) bytes, fewer than its \(expected) setup bytes"
            }
        }
    }

    // Offsets in the image and in boot_params (the header sits at 0x1f1 in both).
    static let headerStart = 0x1F1
    static let setupSectsOffset = 0x1F1
    static let bootFlagOffset = 0x1FE
    static let jumpOffset = 0x200
    static let magicOffset = 0x202
    static let versionOffset = 0x206
    static let vidModeOffset = 0x1FA
    static let typeOfLoaderOffset = 0x210
    static let loadflagsOffset = 0x211
    static let code32StartOffset = 0x214
    static let ramdiskImageOffset = 0x218
    static let ramdiskSizeOffset = 0x21C
    static let heapEndPtrOffset = 0x224
    static let cmdLinePtrOffset = 0x228
    static let initrdAddrMaxOffset = 0x22C
    static let kernelAlignmentOffset = 0x230
    static let relocatableOffset = 0x234
    static let xloadflagsOffset = 0x236
    static let cmdlineSizeOffset = 0x238
    static let payloadOffsetOffset = 0x248
    static let payloadLengthOffset = 0x24C
    static let prefAddressOffset = 0x258
    static let initSizeOffset = 0x260

    static let magic: UInt32 = 0x5372_6448  // "HdrS"
    static let xlfKernel64: UInt16 = 1 << 0
    static let xlfCanBeLoadedAbove4G: UInt16 = 1 << 1
    static let loadedHigh: UInt8 = 1 << 0
    static let canUseHeap: UInt8 = 1 << 7
    /// Set by the kernel's decompressor when it randomized the load address; never by a boot loader.
    static let kaslrFlag: UInt8 = 1 << 1

    let version: UInt16
    /// 512-byte setup sectors after the boot sector (0 in the header means 4).
    let setupSectors: Int
    let loadflags: UInt8
    let xloadflags: UInt16
    let initrdAddressMax: UInt32
    let kernelAlignment: UInt32
    let relocatable: Bool
    let commandLineSize: UInt32
    let preferredAddress: UInt64
    let initSize: UInt32
    /// Where the compressed kernel is, relative to the protected-mode code, and its length (2.08+; 0 when
    /// the header does not say).
    let payloadOffset: UInt32
    let payloadLength: UInt32
    /// The header bytes as in the image, from 0x1f1 to 0x202 + byte[0x201] (what goes into boot_params).
    let rawHeader: [UInt8]

    /// Where the protected-mode kernel starts in the image file.
    var kernelOffset: Int { (setupSectors + 1) * 512 }
    var supports64BitEntry: Bool { xloadflags & Self.xlfKernel64 != 0 }

    static func versionString(_ version: UInt16) -> String { "\(version >> 8).\(String(format2: version & 0xFF))" }

    /// Parses and checks the header of a bzImage. `image` needs only the first 4 KiB; `imageSize` is
    /// the whole file's size (defaults to `image.count`).
    init(image: [UInt8], imageSize: Int? = nil) throws(Failure) {
        let imageSize = imageSize ?? image.count
        let reader = ByteReader(image)
        guard image.count >= 0x268, let jumpLength = reader.read(UInt8.self, at: 0x201) else { throw .tooSmall(image.count) }
        guard reader.read(UInt32.self, at: Self.magicOffset) == Self.magic else { throw .noHeaderMagic }
        let version = reader.read(UInt16.self, at: Self.versionOffset) ?? 0
        guard version >= 0x0206 else { throw .protocolTooOld(version) }
        // xloadflags exists from 2.12 on; older kernels have no 64-bit entry point.
        let xloadflags = version >= 0x020C ? reader.read(UInt16.self, at: Self.xloadflagsOffset) ?? 0 : 0
        guard xloadflags & Self.xlfKernel64 != 0 else { throw .not64Bit(version: version) }
        let sectors = Int(reader.read(UInt8.self, at: Self.setupSectsOffset) ?? 0)
        self.version = version
        self.setupSectors = sectors == 0 ? 4 : sectors
        self.loadflags = reader.read(UInt8.self, at: Self.loadflagsOffset) ?? 0
        self.xloadflags = xloadflags
        self.initrdAddressMax = reader.read(UInt32.self, at: Self.initrdAddrMaxOffset) ?? 0x37FF_FFFF
        self.kernelAlignment = reader.read(UInt32.self, at: Self.kernelAlignmentOffset) ?? 0x20_0000
        self.relocatable = (reader.read(UInt8.self, at: Self.relocatableOffset) ?? 0) != 0
        self.commandLineSize = reader.read(UInt32.self, at: Self.cmdlineSizeOffset) ?? 255
        self.preferredAddress = version >= 0x020A ? reader.read(UInt64.self, at: Self.prefAddressOffset) ?? 0 : 0
        self.initSize = version >= 0x020A ? reader.read(UInt32.self, at: Self.initSizeOffset) ?? 0 : 0
        self.payloadOffset = version >= 0x0208 ? reader.read(UInt32.self, at: Self.payloadOffsetOffset) ?? 0 : 0
        self.payloadLength = version >= 0x0208 ? reader.read(UInt32.self, at: Self.payloadLengthOffset) ?? 0 : 0
        let headerEnd = min(0x202 + Int(jumpLength), 0x1000)
        self.rawHeader = reader.slice(at: Self.headerStart, count: headerEnd - Self.headerStart) ?? []
        guard imageSize > kernelOffset else { throw .truncatedKernel(expected: kernelOffset, actual: imageSize) }
    }
}

extension String {
    /// Two decimal digits, zero-padded (for "2.06").
    init(format2 value: UInt16) { self = value < 10 ? "0\(value)" : "\(value)" }
}

/// The zero page (`struct boot_params`) for the 64-bit entry point.
struct ZeroPage {
    static let size = 0x1000
    static let acpiRSDPAddressOffset = 0x070
    static let extRamdiskImageOffset = 0x0C0
    static let extRamdiskSizeOffset = 0x0C4
    static let extCmdLinePtrOffset = 0x0C8
    static let e820EntriesOffset = 0x1E8
    static let e820TableOffset = 0x2D0
    static let e820MaxEntries = 128

    var buffer = ByteBuffer(count: ZeroPage.size)

    /// Copies the image's setup header in and fills what a boot loader must: loader type, load
    /// flags, entry address, command line, initrd, e820 map and the ACPI RSDP address.
    init(
        header: SetupHeader, kernelLoadAddress: UInt64, commandLineAddress: UInt64,
        initrd: (address: UInt64, size: UInt64)?, memoryMap: [E820Entry], rsdpAddress: UInt64?
    ) {
        buffer.put(header.rawHeader, at: SetupHeader.headerStart)
        buffer.put(UInt16(0xFFFF), at: SetupHeader.vidModeOffset)  // "normal" video mode
        buffer.put(UInt8(0xFF), at: SetupHeader.typeOfLoaderOffset)  // undefined loader id
        // LOADED_HIGH: the protected-mode kernel is at 1 MiB or above; no heap use (no real-mode setup);
        // KASLR_FLAG clear, as the kernel's decompressor leaves it unless it randomized the load address.
        buffer.put(
            (header.loadflags | SetupHeader.loadedHigh) & ~SetupHeader.canUseHeap & ~SetupHeader.kaslrFlag,
            at: SetupHeader.loadflagsOffset)
        buffer.put(UInt32(truncatingIfNeeded: kernelLoadAddress), at: SetupHeader.code32StartOffset)
        buffer.put(UInt32(truncatingIfNeeded: commandLineAddress), at: SetupHeader.cmdLinePtrOffset)
        buffer.put(UInt32(truncatingIfNeeded: commandLineAddress >> 32), at: Self.extCmdLinePtrOffset)
        if let initrd {
            buffer.put(UInt32(truncatingIfNeeded: initrd.address), at: SetupHeader.ramdiskImageOffset)
            buffer.put(UInt32(truncatingIfNeeded: initrd.size), at: SetupHeader.ramdiskSizeOffset)
            buffer.put(UInt32(truncatingIfNeeded: initrd.address >> 32), at: Self.extRamdiskImageOffset)
            buffer.put(UInt32(truncatingIfNeeded: initrd.size >> 32), at: Self.extRamdiskSizeOffset)
        }
        if let rsdpAddress { buffer.put(rsdpAddress, at: Self.acpiRSDPAddressOffset) }
        let entries = memoryMap.prefix(Self.e820MaxEntries)
        buffer.put(UInt8(entries.count), at: Self.e820EntriesOffset)
        for (index, entry) in entries.enumerated() {
            let offset = Self.e820TableOffset + index * 20
            buffer.put(entry.address, at: offset)
            buffer.put(entry.size, at: offset + 8)
            buffer.put(entry.kind.rawValue, at: offset + 16)
        }
    }
}
