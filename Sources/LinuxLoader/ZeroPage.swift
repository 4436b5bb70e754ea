// The zero page (`struct boot_params`, Documentation/arch/x86/zero-page.rst) the loader fills for the
// 64-bit boot protocol: the image's setup header, what a boot loader must set in it, the e820 table,
// the command line and initrd pointers, and the ACPI RSDP address.

import KVM

struct ZeroPage {
    static let size = 0x1000
    static let acpiRSDPAddressOffset = 0x070
    static let extRamdiskImageOffset = 0x0C0
    static let extRamdiskSizeOffset = 0x0C4
    static let extCmdLinePtrOffset = 0x0C8
    static let e820EntriesOffset = 0x1E8
    static let e820TableOffset = 0x2D0
    static let e820MaxEntries = 128

    var buffer = LittleEndianBuffer(count: ZeroPage.size)

    /// Copies the image's setup header in and fills what a boot loader must: loader type, load
    /// flags, entry address, command line, initrd, e820 map and the ACPI RSDP address.
    init(
        header: SetupHeader, kernelLoadAddress: UInt64, commandLineAddress: UInt64,
        initrd: Range<UInt64>?, memoryMap: [E820Entry], rsdpAddress: UInt64?
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
            let size = UInt64(initrd.count)
            buffer.put(UInt32(truncatingIfNeeded: initrd.lowerBound), at: SetupHeader.ramdiskImageOffset)
            buffer.put(UInt32(truncatingIfNeeded: size), at: SetupHeader.ramdiskSizeOffset)
            buffer.put(UInt32(truncatingIfNeeded: initrd.lowerBound >> 32), at: Self.extRamdiskImageOffset)
            buffer.put(UInt32(truncatingIfNeeded: size >> 32), at: Self.extRamdiskSizeOffset)
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
