// The x86 Linux boot protocol (Documentation/arch/x86/boot.rst): a bzImage's setup header, parsed and
// checked for what the 64-bit boot protocol needs. Every field is read through bounds-checked reads of
// the image's first bytes; the image's size is checked against what the header claims.

import KVM

/// A bzImage's setup header (boot protocol 2.06 or later, with a 64-bit entry point).
public struct SetupHeader: Equatable, Sendable {
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
    /// The header's last field (init_size) ends here: an image shorter than this has no usable header.
    static let minimumHeaderEnd = 0x264

    /// "HdrS", little-endian.
    public static let magic: UInt32 = 0x5372_6448
    /// The oldest boot protocol the loader accepts (2.06: cmdline_size, and everything the 64-bit entry needs).
    public static let minimumVersion: UInt16 = 0x0206
    static let xlfKernel64: UInt16 = 1 << 0
    static let xlfCanBeLoadedAbove4G: UInt16 = 1 << 1
    static let loadedHigh: UInt8 = 1 << 0
    static let canUseHeap: UInt8 = 1 << 7
    /// Set by the kernel's decompressor when it randomized the load address; never by a boot loader.
    static let kaslrFlag: UInt8 = 1 << 1

    /// The boot protocol version, as in the header (0x020F for 2.15).
    public let version: UInt16
    /// 512-byte setup sectors after the boot sector (0 in the header means 4).
    public let setupSectors: Int
    /// `loadflags`.
    public let loadflags: UInt8
    /// `xloadflags` (2.12+; 0 before).
    public let xloadflags: UInt16
    /// The highest address the initrd may occupy (`initrd_addr_max`).
    public let initrdAddressMax: UInt32
    /// `kernel_alignment`.
    public let kernelAlignment: UInt32
    /// Whether the protected-mode kernel may be loaded anywhere suitably aligned.
    public let relocatable: Bool
    /// The longest command line the kernel takes, without its terminating NUL (`cmdline_size`).
    public let commandLineSize: UInt32
    /// Where a relocatable kernel prefers to be loaded (`pref_address`, 2.10+).
    public let preferredAddress: UInt64
    /// How much memory the kernel needs from its load address before it relocates (`init_size`, 2.10+).
    public let initSize: UInt32
    /// Where the compressed kernel is, relative to the protected-mode code (`payload_offset`, 2.08+; 0
    /// when the header does not say).
    public let payloadOffset: UInt32
    /// The compressed kernel's length (`payload_length`).
    public let payloadLength: UInt32
    /// The header bytes as in the image, from 0x1f1 to 0x202 + byte[0x201] (what goes into boot_params).
    let rawHeader: [UInt8]

    /// Where the protected-mode kernel starts in the image file.
    public var kernelOffset: Int { (setupSectors + 1) * 512 }

    /// "2.15" for 0x020F.
    public static func versionString(_ version: UInt16) -> String {
        let minor = version & 0xFF
        return "\(version >> 8)." + (minor < 10 ? "0\(minor)" : "\(minor)")
    }

    /// Whether `image` has the "HdrS" magic at 0x202.
    static func looksLikeBzImage(_ image: [UInt8]) -> Bool {
        LittleEndianReader(image).read(UInt32.self, at: magicOffset) == magic
    }

    /// Parses and checks the header of a bzImage. `image` needs only the first 4 KiB; `imageSize` is
    /// the whole file's size (defaults to `image.count`).
    public init(image: [UInt8], imageSize: Int? = nil) throws(LoadError) {
        let imageSize = imageSize ?? image.count
        let reader = LittleEndianReader(image)
        guard image.count >= Self.minimumHeaderEnd, let jumpLength = reader.read(UInt8.self, at: 0x201) else {
            throw .truncatedHeader(format: "bzImage", needed: Self.minimumHeaderEnd, actual: image.count)
        }
        let magic = reader.read(UInt32.self, at: Self.magicOffset) ?? 0
        guard magic == Self.magic else { throw .badMagic(format: "bzImage", found: UInt64(magic)) }
        let version = reader.read(UInt16.self, at: Self.versionOffset) ?? 0
        guard version >= Self.minimumVersion else { throw .unsupportedProtocolVersion(version) }
        // xloadflags exists from 2.12 on; older kernels have no 64-bit entry point.
        let xloadflags = version >= 0x020C ? reader.read(UInt16.self, at: Self.xloadflagsOffset) ?? 0 : 0
        guard xloadflags & Self.xlfKernel64 != 0 else { throw .no64BitEntry(protocolVersion: version) }
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
        let headerEnd = min(0x202 + Int(jumpLength), 0x1000, image.count)
        self.rawHeader = reader.slice(at: Self.headerStart, count: headerEnd - Self.headerStart) ?? []
        guard imageSize > kernelOffset else { throw .truncatedKernel(setupBytes: kernelOffset, imageSize: imageSize) }
    }
}
