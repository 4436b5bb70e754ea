// What the loader did: the facts a VMM needs to start the vCPU and to report, and nothing printed.

import KVM

/// Where the loader puts its boot structures in guest-physical memory. The defaults sit below 1 MiB,
/// clear of the first page (real-mode IVT, BDA), of 0x500-0x5FFF and 0x8000-0xFFFF (room for a VMM's GDT,
/// IDT and page tables) and of the EBDA and BIOS area.
public struct BootLayout: Equatable, Sendable {
    /// bzImage: the zero page (`struct boot_params`, 4 KiB).
    public var zeroPage: GuestAddress = 0x7000
    /// PVH: `struct hvm_start_info`; multiboot: the multiboot information structure (and, 0x80 above it,
    /// the boot loader's name and module strings).
    public var startInfo: GuestAddress = 0x6000
    /// PVH and multiboot: the module list (the initrd).
    public var moduleList: GuestAddress = 0x6100
    /// PVH and multiboot: the memory map (up to 128 entries of 24 bytes: 3 KiB).
    public var memoryMap: GuestAddress = 0x6200
    /// The kernel command line.
    public var commandLine: GuestAddress = 0x2_0000
    /// Bytes reserved for the command line, its terminating NUL included.
    public var commandLineCapacity = 0x1_0000
    /// Where a bzImage without a usable preferred address is loaded (the boot protocol's 1 MiB).
    public var kernelDefault: GuestAddress = 0x10_0000
    /// The initrd's alignment.
    public var initrdAlignment: UInt64 = 4096

    /// The default layout.
    public init() {}
}

/// How the vCPU must be started to enter the kernel.
public struct EntryState: Equatable, Sendable {
    /// The processor mode at the entry point.
    public enum Mode: Equatable, Sendable {
        /// 64-bit long mode, paging on with the low memory identity-mapped (the 64-bit boot protocol).
        case longMode64
        /// 32-bit protected mode with flat 4 GiB code and data segments, paging off (PVH, multiboot).
        case protected32
    }

    /// The mode to enter in.
    public var mode: Mode
    /// RIP (EIP): the entry point.
    public var instructionPointer: GuestAddress
    /// RAX: multiboot's magic 0x2BADB002; otherwise 0.
    public var rax: UInt64
    /// RBX: the start_info (PVH) or multiboot information address; otherwise 0.
    public var rbx: UInt64
    /// RSI: the zero page (64-bit boot protocol); otherwise 0.
    public var rsi: UInt64

    public init(mode: Mode, instructionPointer: GuestAddress, rax: UInt64 = 0, rbx: UInt64 = 0, rsi: UInt64 = 0) {
        self.mode = mode
        self.instructionPointer = instructionPointer
        self.rax = rax
        self.rbx = rbx
        self.rsi = rsi
    }
}

/// What went where in guest memory.
public struct Placement: Equatable, Sendable, CustomStringConvertible {
    /// What a range holds.
    public enum Kind: String, Equatable, Sendable {
        case kernel, initrd, commandLine, zeroPage, startInfo, moduleList, memoryMap, multibootInfo, bootLoaderName
    }

    public var kind: Kind
    public var range: Range<GuestAddress>

    public var description: String { "\(kind.rawValue) \(range.lowerBound)-\(range.upperBound)" }
}

/// Who decompressed a bzImage's kernel.
public enum DecompressionOutcome: Equatable, Sendable {
    /// The loader did, with the `format` decompressor: `compressedSize` bytes to `decompressedSize`, in `duration`.
    case host(format: String, compressedSize: Int, decompressedSize: Int, duration: Duration)
    /// The kernel will decompress itself in the guest, for `reason`.
    case guest(reason: GuestDecompressionReason)
}

/// Why a bzImage is left to decompress itself.
public enum GuestDecompressionReason: Equatable, Sendable, CustomStringConvertible {
    /// The caller asked for it (``KernelLoader/Decompression/guest``).
    case requested
    /// The setup header records no payload (boot protocol before 2.08).
    case noPayloadRecorded(protocolVersion: UInt16)
    /// No decompressor the caller gave recognizes the payload.
    case noDecompressor(PayloadFormat)

    public var description: String {
        switch self {
        case .requested: return "requested"
        case .noPayloadRecorded(let version):
            return "the setup header records no payload (boot protocol \(SetupHeader.versionString(version)))"
        case .noDecompressor(let format): return "no decompressor for \(format) payloads"
        }
    }
}

/// A loaded kernel: its format, how to enter it, and what went where.
public struct LoadedKernel: Equatable, Sendable {
    /// The image's format.
    public enum Format: Equatable, Sendable {
        /// A bzImage, entered through the 64-bit boot protocol.
        case bzImage(protocolVersion: UInt16)
        /// An ELF vmlinux, entered through its PVH note.
        case pvh
        /// A multiboot (v1) kernel.
        case multiboot
    }

    public var format: Format
    /// How to start the boot vCPU.
    public var entry: EntryState
    /// bzImage only: who decompresses the kernel.
    public var decompression: DecompressionOutcome?
    /// Every range the loader wrote (the kernel's includes its bss, or a bzImage's init_size).
    public var placements: [Placement]

    /// The range of `kind`, if the loader placed one.
    public func range(of kind: Placement.Kind) -> Range<GuestAddress>? { placements.first { $0.kind == kind }?.range }
    /// The kernel's range.
    public var kernel: Range<GuestAddress> { range(of: .kernel) ?? GuestAddress(0)..<GuestAddress(0) }
    /// The initrd's range, if there is one.
    public var initrd: Range<GuestAddress>? { range(of: .initrd) }
}
