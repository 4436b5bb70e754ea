// Everything the loader refuses, one case per reason, each naming what is wrong and with the numbers that
// show it. A malformed image gets one of these, never a trap.

import KVM

/// Why a kernel, initrd or command line could not be loaded.
public enum LoadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kernel image has no bytes.
    case emptyImage
    /// Neither a bzImage ("HdrS" at 0x202), an ELF file, nor a multiboot kernel (header in the first 8 KiB).
    case unrecognizedImage
    /// The image ends inside its `format` header: `needed` bytes, `actual` present.
    case truncatedHeader(format: String, needed: Int, actual: Int)
    /// A magic number is not what `format` requires.
    case badMagic(format: String, found: UInt64)
    /// The bzImage's boot protocol is older than 2.06.
    case unsupportedProtocolVersion(UInt16)
    /// The bzImage does not set XLF_KERNEL_64 in xloadflags.
    case no64BitEntry(protocolVersion: UInt16)
    /// The bzImage is no longer than its setup sectors: no protected-mode kernel follows.
    case truncatedKernel(setupBytes: Int, imageSize: Int)
    /// The header's payload_offset/payload_length point outside the image.
    case payloadOutsideImage(offset: Int, length: Int, imageSize: Int)
    /// The `format` decompressor refused the payload.
    case decompressionFailed(format: String, reason: any Error)
    /// An ELF file of a class or machine the loader does not boot.
    case unsupportedELF(elfClass: UInt8, machine: UInt16)
    /// The ELF program header table lies outside the file.
    case programHeadersOutsideImage
    /// ELF program header `index` points outside the file (or its file size exceeds its memory size).
    case segmentOutsideImage(index: Int)
    /// The ELF file has no XEN_ELFNOTE_PHYS32_ENTRY note (and no multiboot header).
    case noPVHEntry
    /// The ELF entry point lies in no PT_LOAD segment.
    case entryOutsideSegments(UInt64)
    /// The multiboot header's checksum does not make magic + flags + checksum zero.
    case multibootChecksum(headerOffset: Int)
    /// The multiboot header requires features the loader does not provide (bits 0-15 of its flags it
    /// does not know, or the video mode, bit 2).
    case multibootUnsupportedFlags(UInt32)
    /// The multiboot a.out-kludge address fields contradict each other or the file.
    case multibootBadAddresses(String)
    /// A multiboot kernel that is neither ELF nor has the a.out-kludge address fields (flag 16).
    case multibootNotLoadable
    /// The kernel needs `size` bytes of RAM from `address`, which the memory map (`totalRAM` bytes of RAM) does not have.
    case kernelDoesNotFit(address: UInt64, size: UInt64, totalRAM: UInt64)
    /// ELF program header `index` would go to `address` (`size` bytes), outside guest RAM.
    case segmentOutsideRAM(index: Int, address: UInt64, size: UInt64)
    /// The kernel's range overlaps where the loader puts `structure`.
    case overlapsBootStructure(structure: String, kernelStart: UInt64, kernelEnd: UInt64)
    /// No page-aligned place for the `size`-byte initrd in RAM between `floor` (the kernel's end) and `limit`.
    case initrdDoesNotFit(size: UInt64, floor: UInt64, limit: UInt64)
    /// The command line has `length` bytes; the protocol takes at most `limit`.
    case commandLineTooLong(length: Int, limit: Int)
    /// The command line has a NUL byte, which would end it early.
    case commandLineContainsNUL
    /// Reading the kernel or initrd failed.
    case image(ImageError)
    /// A boot structure could not be written to guest memory (its address is not in a memory region).
    case guestMemory(GuestMemoryError)

    public var description: String {
        switch self {
        case .emptyImage: return "the kernel image is empty"
        case .unrecognizedImage:
            return "not a bootable kernel: not a bzImage (no \"HdrS\" at 0x202), not an ELF file, and no multiboot header in the first 8 KiB"
        case .truncatedHeader(let format, let needed, let actual):
            return "truncated \(format) header: \(actual) bytes is too small (it needs \(needed))"
        case .badMagic(let format, let found):
            return format == "bzImage"
                ? "not a bzImage: no \"HdrS\" at offset 0x202 (found \(hex(found, digits: 8)))"
                : "bad \(format) magic \(hex(found))"
        case .unsupportedProtocolVersion(let version):
            return "boot protocol \(SetupHeader.versionString(version)) is older than 2.06, the oldest supported"
        case .no64BitEntry(let version):
            return "the kernel (boot protocol \(SetupHeader.versionString(version))) does not set XLF_KERNEL_64 in xloadflags: it has no 64-bit entry point"
        case .truncatedKernel(let setupBytes, let imageSize):
            return "the image has \(imageSize) bytes, no more than its \(setupBytes) setup bytes: no protected-mode kernel follows"
        case .payloadOutsideImage(let offset, let length, let imageSize):
            return "the bzImage payload (\(length) bytes at \(hex(offset))) lies outside the \(imageSize)-byte image"
        case .decompressionFailed(let format, let reason):
            return "bzImage payload (\(format)): \(reason)"
        case .unsupportedELF(let elfClass, let machine):
            return "unsupported ELF file (class \(elfClass), machine \(machine)): expected little-endian ELF64 x86-64 or ELF32 i386"
        case .programHeadersOutsideImage: return "the ELF program headers lie outside the file"
        case .segmentOutsideImage(let index): return "ELF program header \(index) points outside the file"
        case .noPVHEntry:
            return "no PVH entry point (Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY, type 18): build the kernel with CONFIG_PVH=y, or boot its bzImage"
        case .entryOutsideSegments(let entry): return "the entry point \(hex(entry)) lies in no PT_LOAD segment"
        case .multibootChecksum(let offset):
            return "multiboot header at \(hex(offset)): magic + flags + checksum is not zero"
        case .multibootUnsupportedFlags(let flags):
            return "the multiboot header requires features this loader does not provide (flags \(hex(flags, digits: 8)): video mode or unknown required bits)"
        case .multibootBadAddresses(let reason): return "multiboot address fields: \(reason)"
        case .multibootNotLoadable:
            return "the multiboot kernel is not ELF and does not give load addresses (flag 16, the a.out kludge)"
        case .kernelDoesNotFit(let address, let size, let totalRAM):
            return "the kernel needs \(size) bytes of RAM from \(hex(address)); the guest's \(totalRAM) bytes of RAM do not hold them"
        case .segmentOutsideRAM(let index, let address, let size):
            return "ELF segment \(index) at \(hex(address)) (\(size) bytes) is not in guest RAM"
        case .overlapsBootStructure(let structure, let start, let end):
            return "the kernel (\(hex(start))-\(hex(end))) overlaps the \(structure)"
        case .initrdDoesNotFit(let size, let floor, let limit):
            return "the initrd (\(size) bytes) does not fit in RAM between the kernel's end \(hex(floor)) and \(hex(limit))"
        case .commandLineTooLong(let length, let limit):
            return "the command line has \(length) bytes; this kernel takes at most \(limit)"
        case .commandLineContainsNUL: return "the command line contains a NUL byte"
        case .image(let error): return "\(error)"
        case .guestMemory(let error): return "writing a boot structure: \(error)"
        }
    }

    /// Two errors are equal when they are the same case with the same values; for
    /// ``decompressionFailed(format:reason:)`` the decompressors' errors are compared by what they say.
    public static func == (lhs: LoadError, rhs: LoadError) -> Bool { lhs.description == rhs.description }
}

/// `0x…` hexadecimal, zero-padded to `digits`, for messages.
func hex<T: BinaryInteger>(_ value: T, digits: Int = 0) -> String {
    let text = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, digits - text.count)) + text
}
