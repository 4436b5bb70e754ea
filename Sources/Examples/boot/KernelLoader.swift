// Puts a kernel, its initrd and command line into guest memory and says where and how to enter it:
//  - bzImage, decompressed by the VMM (the default where it knows the payload's format, see
//    BzImagePayload.swift): the kernel ELF's PT_LOAD segments at their physical addresses, the same zero
//    page as below; 64-bit entry at the ELF's startup_64 with RSI = zero page.
//  - bzImage, decompressed by the kernel (`--decompress guest`, or a format the VMM does not know): the
//    protected-mode kernel at its preferred address (relocatable) or 1 MiB, the zero page with the
//    setup header, e820 map, command line, initrd and RSDP; 64-bit entry at load + 0x200 with RSI = zero
//    page.
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
    /// bzImage: who decompressed the kernel (nil for an ELF vmlinux), and a line saying how.
    var decompressedBy: Options.Decompression?
    var decompressionNote = ""

    var summary: String {
        var text: String
        switch format {
        case .bzImage(let version):
            text = "bzImage (boot protocol \(SetupHeader.versionString(version))), "
                + (decompressedBy == .host ? "decompressed by the VMM, 64-bit entry (startup_64)" : "64-bit entry")
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
        map: MemoryMap, acpi: ACPITables, decompression: Options.Decompression = .host
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
        var fallback = "--decompress guest"
        if decompression == .host {
            switch BzImagePayload.locate(header: header, kernel: kernel) {
            case .success(let payload):
                let started = monotonicNow()
                do {
                    if let elf = try payload.decompress(from: kernel, limit: Int(clamping: map.ramSize)) {
                        let milliseconds = Int((monotonicNow() - started) * 1000)
                        var plan = try loadDecompressed(
                            header: header, elfImage: elf, initrd: initrd, commandLine: commandLine, memory: memory, map: map,
                            acpi: acpi)
                        plan.decompressionNote = "kernel decompressed by the VMM (\(payload.format) payload, \(payload.length) → "
                            + "\(elf.count) bytes, \(milliseconds) ms); entering startup_64 at \(hex(plan.entry))"
                        return plan
                    }
                } catch {
                    throw Failure("bzImage payload: \(error)")
                }
                fallback = "the VMM does not decompress \(payload.format) payloads"
            case .failure(let reason):
                fallback = "\(reason)"
            }
        }
        var plan = try loadBzImage(header: header, kernel: kernel, initrd: initrd, commandLine: commandLine, memory: memory, map: map, acpi: acpi)
        plan.decompressionNote = "the kernel decompresses itself in the guest (\(fallback))"
        return plan
    }

    /// A bzImage whose payload the VMM decompressed (`elfImage`): the kernel's segments at their physical
    /// addresses, the zero page as for the 64-bit boot protocol, entry at startup_64 (physical e_entry).
    static func loadDecompressed(
        header: SetupHeader, elfImage: [UInt8], initrd: (some ImageSource)?, commandLine: String,
        memory: GuestMemory, map: MemoryMap, acpi: ACPITables
    ) throws -> BootPlan {
        let source = ArraySource(elfImage)
        let elf: ELFImage
        let entry: UInt64
        do {
            elf = try ELFImage(source: source)
            entry = try elf.physicalEntry()
        } catch {
            throw Failure("the decompressed bzImage payload: \(error)")
        }
        try loadSegments(of: elf, from: source, memory: memory, map: map)
        guard UInt64(commandLine.utf8.count) <= UInt64(header.commandLineSize) else {
            throw Failure("the command line has \(commandLine.utf8.count) bytes; this kernel takes at most \(header.commandLineSize)")
        }
        try writeCommandLine(commandLine, into: memory)
        let extent = elf.physicalExtent
        let limit = min(map.lowRAMEnd, UInt64(header.initrdAddressMax) + 1)
        let placed = try placeInitrd(initrd, below: limit, above: extent.high, memory: memory)
        // code32_start: where the protected-mode kernel would have been loaded (the kernel's start).
        let zeroPage = ZeroPage(
            header: header, kernelLoadAddress: extent.low, commandLineAddress: GuestLayout.commandLine, initrd: placed,
            memoryMap: map.entries, rsdpAddress: acpi.rsdpAddress)
        try memory.write(bytes: zeroPage.buffer.bytes, at: GuestAddress(GuestLayout.zeroPage))
        try CPUSetup.writeTables(into: memory, mode: .longMode64)
        return BootPlan(
            format: .bzImage(protocolVersion: header.version), mode: .longMode64, entry: entry,
            argument: GuestLayout.zeroPage, kernel: (extent.low, extent.high), initrd: placed, decompressedBy: .host)
    }

    /// Copies every PT_LOAD segment of `elf` to its physical address, after checking it lies in RAM.
    static func loadSegments(of elf: ELFImage, from source: some ImageSource, memory: GuestMemory, map: MemoryMap) throws {
        for segment in elf.segments where segment.memorySize > 0 {
            guard map.isRAM(segment.physicalAddress, size: segment.memorySize) else {
                throw Failure("segment at \(hex(segment.physicalAddress)) (\(segment.memorySize) bytes) is not in guest RAM: give the guest more --memory")
            }
            try source.copy(from: segment.fileOffset, count: segment.fileSize, to: segment.physicalAddress, in: memory)
            // The rest of memsz (bss) is already zero: guest memory starts zero-filled.
        }
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
            argument: GuestLayout.zeroPage, kernel: (load, load + footprint), initrd: placed, decompressedBy: .guest)
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
        guard let pvhEntry = elf.pvhEntry else { throw Failure("\(ELFImage.Failure.noPVHEntry)") }
        try loadSegments(of: elf, from: kernel, memory: memory, map: map)
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
            format: .pvh, mode: .protected32, entry: UInt64(pvhEntry), argument: GuestLayout.startInfo,
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
