// Puts a kernel, its initrd and command line into guest memory and says where and how to enter it:
//  - bzImage: the protected-mode kernel at its preferred address (relocatable) or 1 MiB, the zero
//    page with the setup header, e820 map, command line, initrd and RSDP; 64-bit entry at load + 0x200
//    with RSI = zero page.
//  - vmlinux (ELF) with a PVH note: PT_LOAD segments at their physical addresses, hvm_start_info
//    with memmap, command line, RSDP and the initrd as module 0; 32-bit entry with EBX = start_info.
// The initrd goes at the top of low RAM (below initrd_addr_max for a bzImage), page-aligned.

import KVM

struct BootPlan {
    enum Format: Equatable { case bzImage(protocolVersion: UInt16), pvh }
    var format: Format
    var mode: CPUSetup.EntryMode
    var entry: UInt64
    /// RSI (64-bit protocol) or EBX (PVH).
    var argument: UInt64
    var kernel: (start: UInt64, end: UInt64)
    var initrd: (address: UInt64, size: UInt64)?

    var summary: String {
        var text: String
        switch format {
        case .bzImage(let version): text = "bzImage (boot protocol \(SetupHeader.versionString(version))), 64-bit entry"
        case .pvh: text = "vmlinux, PVH 32-bit entry"
        }
        text += " at \(hex(entry)), kernel \(hex(kernel.start))-\(hex(kernel.end))"
        if let initrd { text += ", initrd \(initrd.size) bytes at \(hex(initrd.address))" }
        return text
    }
}

enum KernelLoader {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static func load(
        kernel: some ImageSource, initrd: (some ImageSource)?, commandLine: String, memory: GuestMemory,
        map: MemoryMap, acpi: ACPITables
    ) throws -> BootPlan {
        guard let head = kernel.bytes(at: 0, count: min(kernel.size, 0x1000)) else { throw Failure("the kernel image is empty") }
        try memory.write(bytes: acpi.blob, at: GuestAddress(GuestLayout.acpiBase))
        if ELFImage.isELF(head) {
            return try loadPVH(kernel: kernel, initrd: initrd, commandLine: commandLine, memory: memory, map: map, acpi: acpi)
        }
        let header: SetupHeader
        do {
            header = try SetupHeader(image: head, imageSize: kernel.size)
        } catch {
            throw Failure("not a bootable kernel: \(error) (expected a bzImage or an ELF vmlinux)")
        }
        return try loadBzImage(header: header, kernel: kernel, initrd: initrd, commandLine: commandLine, memory: memory, map: map, acpi: acpi)
    }

    static func loadBzImage(
        header: SetupHeader, kernel: some ImageSource, initrd: (some ImageSource)?, commandLine: String,
        memory: GuestMemory, map: MemoryMap, acpi: ACPITables
    ) throws -> BootPlan {
        let payloadSize = UInt64(kernel.size - header.kernelOffset)
        let footprint = max(payloadSize, UInt64(header.initSize))
        var load = GuestLayout.kernelDefault
        if header.relocatable, header.preferredAddress >= GuestLayout.kernelDefault,
            map.isRAM(header.preferredAddress, size: footprint)
        {
            load = header.preferredAddress
        }
        guard map.isRAM(load, size: footprint) else {
            throw Failure("the kernel needs \(footprint >> 20) MiB from \(hex(load)): give the guest more --memory")
        }
        try kernel.copy(from: header.kernelOffset, count: Int(payloadSize), to: load, in: memory)
        guard UInt64(commandLine.utf8.count) <= UInt64(header.commandLineSize) else {
            throw Failure("the command line has \(commandLine.utf8.count) bytes; this kernel takes at most \(header.commandLineSize)")
        }
        try writeCommandLine(commandLine, into: memory)
        let limit = min(map.lowRAMEnd, UInt64(header.initrdAddressMax) + 1)
        let placed = try placeInitrd(initrd, below: limit, above: load + footprint, memory: memory)
        let zeroPage = ZeroPage(
            header: header, kernelLoadAddress: load, commandLineAddress: GuestLayout.commandLine, initrd: placed,
            memoryMap: map.entries, rsdpAddress: acpi.rsdpAddress)
        try memory.write(bytes: zeroPage.buffer.bytes, at: GuestAddress(GuestLayout.zeroPage))
        try CPUSetup.writeTables(into: memory, mode: .longMode64)
        return BootPlan(
            format: .bzImage(protocolVersion: header.version), mode: .longMode64, entry: load + 0x200,
            argument: GuestLayout.zeroPage, kernel: (load, load + footprint), initrd: placed)
    }

    static func loadPVH(
        kernel: some ImageSource, initrd: (some ImageSource)?, commandLine: String, memory: GuestMemory,
        map: MemoryMap, acpi: ACPITables
    ) throws -> BootPlan {
        let elf: ELFImage
        do {
            elf = try ELFImage(source: kernel)
        } catch {
            throw Failure("\(error)")
        }
        for segment in elf.segments where segment.memorySize > 0 {
            guard map.isRAM(segment.physicalAddress, size: segment.memorySize) else {
                throw Failure("segment at \(hex(segment.physicalAddress)) (\(segment.memorySize) bytes) is not in guest RAM: give the guest more --memory")
            }
            try kernel.copy(from: segment.fileOffset, count: segment.fileSize, to: segment.physicalAddress, in: memory)
            // The rest of memsz (bss) is already zero: guest memory starts zero-filled.
        }
        guard commandLine.utf8.count < GuestLayout.commandLineLimit else { throw Failure("the command line is too long") }
        try writeCommandLine(commandLine, into: memory)
        let extent = elf.physicalExtent
        let placed = try placeInitrd(initrd, below: min(map.lowRAMEnd, MemoryMap.fourGiB), above: extent.high, memory: memory)
        let info = PVHStartInfo(
            commandLineAddress: GuestLayout.commandLine, rsdpAddress: acpi.rsdpAddress, memoryMap: map.entries, initrd: placed)
        try memory.write(bytes: info.startInfo.bytes, at: GuestAddress(GuestLayout.startInfo))
        try memory.write(bytes: info.moduleList.bytes, at: GuestAddress(GuestLayout.moduleList))
        try memory.write(bytes: info.memoryMap.bytes, at: GuestAddress(GuestLayout.memoryMap))
        try CPUSetup.writeTables(into: memory, mode: .protected32)
        return BootPlan(
            format: .pvh, mode: .protected32, entry: UInt64(elf.pvhEntry), argument: GuestLayout.startInfo,
            kernel: (extent.low, extent.high), initrd: placed)
    }

    static func writeCommandLine(_ commandLine: String, into memory: GuestMemory) throws {
        try memory.write(bytes: Array(commandLine.utf8) + [0], at: GuestAddress(GuestLayout.commandLine))
    }

    /// Copies the initrd to the highest page-aligned address below `limit` and above `floor`.
    static func placeInitrd(
        _ initrd: (some ImageSource)?, below limit: UInt64, above floor: UInt64, memory: GuestMemory
    ) throws -> (address: UInt64, size: UInt64)? {
        guard let initrd else { return nil }
        let size = UInt64(initrd.size)
        guard size > 0 else { return nil }
        guard limit > size, alignDown(limit - size, 4096) >= alignUp(floor, 4096) else {
            throw Failure("the initrd (\(size >> 20) MiB) does not fit between the kernel's end \(hex(floor)) and \(hex(limit)): give the guest more --memory")
        }
        let address = alignDown(limit - size, 4096)
        try initrd.copy(from: 0, count: Int(size), to: address, in: memory)
        return (address, size)
    }
}
