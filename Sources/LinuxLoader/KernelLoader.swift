// Puts a kernel, its initrd and command line into guest memory and says where and how to enter it:
//  - bzImage, decompressed here (the default where a decompressor recognizes the payload): the kernel ELF's
//    PT_LOAD segments at their physical addresses, the zero page as below; 64-bit entry at the ELF's
//    startup_64 with RSI = zero page, as the kernel's own decompressor would leave it (extract_kernel in
//    arch/x86/boot/compressed/misc.c).
//  - bzImage, decompressed by the kernel (requested, or a format no decompressor reads): the protected-mode
//    kernel at its preferred address (relocatable) or 1 MiB, the zero page with the setup header, e820
//    map, command line, initrd and RSDP; 64-bit entry at load + 0x200 with RSI = zero page.
//  - vmlinux (ELF) with a PVH note: PT_LOAD segments at their physical addresses, hvm_start_info with
//    memmap, command line, RSDP and the initrd as module 0; 32-bit entry with EBX = start_info.
//  - multiboot v1 (Multiboot.swift): ELF segments or the a.out-kludge range, the multiboot information;
//    32-bit entry with EAX = 0x2BADB002, EBX = the information.
// The initrd goes at the highest page-aligned address of RAM below the protocol's limit (initrd_addr_max
// for a bzImage, 4 GiB otherwise) and above the kernel's end.

import KVM

/// Loads Linux (and multiboot) kernels into guest memory.
///
/// ```swift
/// let loader = KernelLoader(memoryMap: MemoryMap(ramSize: 512 << 20), rsdpAddress: 0xE_0000)
/// let loaded = try loader.load(kernel: try ImageFile(path: "bzImage"), initrd: nil,
///                              commandLine: "console=ttyS0", into: vm.memory)
/// // Start the vCPU in loaded.entry.mode at loaded.entry.instructionPointer, RSI = loaded.entry.rsi.
/// ```
public struct KernelLoader: Sendable {
    /// Who decompresses a bzImage's kernel.
    public enum Decompression: Sendable {
        /// The loader, with the first of these decompressors that recognizes the payload; the kernel
        /// decompresses itself when none does.
        case host([any Decompressor])
        /// The kernel, in the guest (entered at its 64-bit boot protocol entry, load + 0x200).
        case guest
    }

    /// The guest's memory map: what is RAM (checked for every placement), and the e820 map handed over.
    public var memoryMap: MemoryMap
    /// Where the boot structures go.
    public var layout: BootLayout
    /// Who decompresses a bzImage.
    public var decompression: Decompression
    /// The ACPI RSDP's address, recorded in the zero page (`acpi_rsdp_addr`) or start_info (`rsdp_paddr`).
    public var rsdpAddress: GuestAddress?

    public init(
        memoryMap: MemoryMap, layout: BootLayout = BootLayout(), decompression: Decompression = .host(.standard),
        rsdpAddress: GuestAddress? = nil
    ) {
        self.memoryMap = memoryMap
        self.layout = layout
        self.decompression = decompression
        self.rsdpAddress = rsdpAddress
    }

    /// Loads `kernel` (a bzImage, an ELF vmlinux with a PVH note, or a multiboot kernel), `initrd` and
    /// `commandLine` into `memory`, and writes the structures the kernel's entry protocol wants.
    public func load(
        kernel: any ImageSource, initrd: (any ImageSource)? = nil, commandLine: String, into memory: GuestMemory
    ) throws(LoadError) -> LoadedKernel {
        guard kernel.size > 0, let head = kernel.bytes(at: 0, count: min(kernel.size, Multiboot.searchLength)) else {
            throw .emptyImage
        }
        guard !commandLine.utf8.contains(0) else { throw .commandLineContainsNUL }
        if SetupHeader.looksLikeBzImage(head) {
            return try loadBzImage(header: SetupHeader(image: head, imageSize: kernel.size), kernel: kernel, initrd: initrd, commandLine: commandLine, memory: memory)
        }
        let multiboot = try Multiboot.Header(searching: head)
        if ELFImage.isELF(head) {
            let elf = try ELFImage(source: kernel)
            if let pvhEntry = elf.pvhEntry {
                return try loadPVH(elf: elf, entry: pvhEntry, kernel: kernel, initrd: initrd, commandLine: commandLine, memory: memory)
            }
            guard let multiboot else { throw .noPVHEntry }
            return try loadMultiboot(header: multiboot, elf: elf, kernel: kernel, initrd: initrd, commandLine: commandLine, memory: memory)
        }
        if let multiboot {
            return try loadMultiboot(header: multiboot, elf: nil, kernel: kernel, initrd: initrd, commandLine: commandLine, memory: memory)
        }
        if head.count < SetupHeader.minimumHeaderEnd { throw .truncatedHeader(format: "bzImage", needed: SetupHeader.minimumHeaderEnd, actual: head.count) }
        throw .unrecognizedImage
    }

    // MARK: bzImage

    func loadBzImage(
        header: SetupHeader, kernel: any ImageSource, initrd: (any ImageSource)?, commandLine: String, memory: GuestMemory
    ) throws(LoadError) -> LoadedKernel {
        try checkCommandLine(commandLine, limit: min(Int(header.commandLineSize), layout.commandLineCapacity - 1))
        var reason = GuestDecompressionReason.requested
        if case .host(let decompressors) = decompression {
            if let payload = try BzImagePayload.locate(header: header, kernel: kernel) {
                let prefix = kernel.bytes(at: payload.fileOffset, count: min(payload.length, 8)) ?? []
                if let decompressor = decompressors.first(where: { $0.recognizes(prefix) }) {
                    return try loadDecompressed(
                        header: header, payload: payload, decompressor: decompressor, kernel: kernel, initrd: initrd,
                        commandLine: commandLine, memory: memory)
                }
                reason = .noDecompressor(payload.format)
            } else {
                reason = .noPayloadRecorded(protocolVersion: header.version)
            }
        }
        // The protected-mode kernel, whole, where the kernel's decompressor expects it.
        let payloadSize = UInt64(kernel.size - header.kernelOffset)
        let footprint = max(payloadSize, UInt64(header.initSize))
        var load = layout.kernelDefault.rawValue
        if header.relocatable, header.preferredAddress >= layout.kernelDefault.rawValue, memoryMap.isRAM(header.preferredAddress, size: footprint) {
            load = header.preferredAddress
        }
        guard memoryMap.isRAM(load, size: footprint) else {
            throw .kernelDoesNotFit(address: load, size: footprint, totalRAM: memoryMap.totalRAM)
        }
        let kernelRange = load..<(load + footprint)
        let structures = bzImageStructures(commandLine: commandLine)
        try checkClear(kernelRange, of: structures)
        do {
            try kernel.copy(from: header.kernelOffset, count: Int(payloadSize), to: GuestAddress(load), in: memory)
        } catch {
            throw .image(error)
        }
        return try finishBzImage(
            header: header, kernelRange: kernelRange, entry: load + 0x200, initrd: initrd, commandLine: commandLine,
            structures: structures, memory: memory, decompression: .guest(reason: reason))
    }

    /// A bzImage whose payload is decompressed here: the kernel ELF's segments at their physical
    /// addresses, entry at startup_64 (the physical e_entry).
    func loadDecompressed(
        header: SetupHeader, payload: BzImagePayload, decompressor: any Decompressor, kernel: any ImageSource,
        initrd: (any ImageSource)?, commandLine: String, memory: GuestMemory
    ) throws(LoadError) -> LoadedKernel {
        guard let data = kernel.bytes(at: payload.fileOffset, count: payload.length) else {
            throw .payloadOutsideImage(offset: payload.fileOffset, length: payload.length, imageSize: kernel.size)
        }
        let clock = ContinuousClock()
        let started = clock.now
        let elfImage: [UInt8]
        do {
            elfImage = try decompressor.decompress(data, limit: Int(clamping: memoryMap.totalRAM))
        } catch {
            throw .decompressionFailed(format: decompressor.name, reason: error)
        }
        let duration = clock.now - started
        let source = ImageBytes(elfImage)
        let elf = try ELFImage(source: source)
        let entry = try elf.physicalEntry()
        let structures = bzImageStructures(commandLine: commandLine)
        let extent = try loadSegments(of: elf, from: source, structures: structures, memory: memory)
        return try finishBzImage(
            header: header, kernelRange: extent, entry: entry, initrd: initrd, commandLine: commandLine, structures: structures,
            memory: memory,
            decompression: .host(format: decompressor.name, compressedSize: payload.length, decompressedSize: elfImage.count, duration: duration))
    }

    func bzImageStructures(commandLine: String) -> [Placement] {
        [Placement(kind: .zeroPage, range: range(layout.zeroPage, ZeroPage.size)),
         Placement(kind: .commandLine, range: range(layout.commandLine, commandLine.utf8.count + 1))]
    }

    func finishBzImage(
        header: SetupHeader, kernelRange: Range<UInt64>, entry: UInt64, initrd: (any ImageSource)?, commandLine: String,
        structures: [Placement], memory: GuestMemory, decompression: DecompressionOutcome
    ) throws(LoadError) -> LoadedKernel {
        let limit = UInt64(header.initrdAddressMax) + 1
        let placedInitrd = try placeInitrd(initrd, below: limit, above: kernelRange.upperBound, avoiding: structures, memory: memory)
        try write(Array(commandLine.utf8) + [0], at: layout.commandLine, memory)
        // code32_start: where the protected-mode kernel is (or would have been) loaded.
        let zeroPage = ZeroPage(
            header: header, kernelLoadAddress: kernelRange.lowerBound, commandLineAddress: layout.commandLine.rawValue,
            initrd: placedInitrd, memoryMap: memoryMap.entries, rsdpAddress: rsdpAddress?.rawValue)
        try write(zeroPage.buffer.bytes, at: layout.zeroPage, memory)
        var placements = [Placement(kind: .kernel, range: GuestAddress(kernelRange.lowerBound)..<GuestAddress(kernelRange.upperBound))]
        if let placedInitrd { placements.append(Placement(kind: .initrd, range: GuestAddress(placedInitrd.lowerBound)..<GuestAddress(placedInitrd.upperBound))) }
        return LoadedKernel(
            format: .bzImage(protocolVersion: header.version),
            entry: EntryState(mode: .longMode64, instructionPointer: GuestAddress(entry), rax: 0, rbx: 0, rsi: layout.zeroPage.rawValue),
            decompression: decompression, placements: placements + structures)
    }

    // MARK: PVH

    func loadPVH(
        elf: ELFImage, entry: UInt32, kernel: any ImageSource, initrd: (any ImageSource)?, commandLine: String, memory: GuestMemory
    ) throws(LoadError) -> LoadedKernel {
        try checkCommandLine(commandLine, limit: layout.commandLineCapacity - 1)
        let entries = Array(memoryMap.entries.prefix(ZeroPage.e820MaxEntries))
        var structures = [
            Placement(kind: .startInfo, range: range(layout.startInfo, PVHStartInfo.size)),
            Placement(kind: .memoryMap, range: range(layout.memoryMap, entries.count * PVHStartInfo.memoryMapEntrySize)),
            Placement(kind: .commandLine, range: range(layout.commandLine, commandLine.utf8.count + 1)),
        ]
        if initrd.map({ $0.size > 0 }) ?? false {
            structures.insert(Placement(kind: .moduleList, range: range(layout.moduleList, PVHStartInfo.moduleEntrySize)), at: 1)
        }
        let extent = try loadSegments(of: elf, from: kernel, structures: structures, memory: memory)
        // The note's entry must lie in what is loaded (a 32-bit physical address).
        guard elf.segments.contains(where: { UInt64(entry) >= $0.physicalAddress && UInt64(entry) - $0.physicalAddress < UInt64($0.fileSize) })
        else { throw .entryOutsideSegments(UInt64(entry)) }
        let placedInitrd = try placeInitrd(initrd, below: MemoryMap.fourGiB, above: extent.upperBound, avoiding: structures, memory: memory)
        try write(Array(commandLine.utf8) + [0], at: layout.commandLine, memory)
        let info = PVHStartInfo(
            commandLineAddress: layout.commandLine.rawValue, rsdpAddress: rsdpAddress?.rawValue, memoryMap: entries,
            initrd: placedInitrd, moduleListAddress: layout.moduleList.rawValue, memoryMapAddress: layout.memoryMap.rawValue)
        try write(info.startInfo.bytes, at: layout.startInfo, memory)
        try write(info.moduleList.bytes, at: layout.moduleList, memory)
        try write(info.memoryMap.bytes, at: layout.memoryMap, memory)
        var placements = [Placement(kind: .kernel, range: GuestAddress(extent.lowerBound)..<GuestAddress(extent.upperBound))]
        if let placedInitrd { placements.append(Placement(kind: .initrd, range: GuestAddress(placedInitrd.lowerBound)..<GuestAddress(placedInitrd.upperBound))) }
        return LoadedKernel(
            format: .pvh,
            entry: EntryState(mode: .protected32, instructionPointer: GuestAddress(UInt64(entry)), rax: 0, rbx: layout.startInfo.rawValue, rsi: 0),
            decompression: nil, placements: placements + structures)
    }

    // MARK: Shared steps

    /// Copies every PT_LOAD segment of `elf` to its physical address and zeroes its bss, after checking
    /// it lies in RAM and clear of the boot structures; returns the range the segments span.
    func loadSegments(
        of elf: ELFImage, from source: any ImageSource, structures: [Placement], memory: GuestMemory
    ) throws(LoadError) -> Range<UInt64> {
        for segment in elf.segments where segment.memorySize > 0 {
            guard memoryMap.isRAM(segment.physicalAddress, size: segment.memorySize) else {
                throw .segmentOutsideRAM(index: segment.index, address: segment.physicalAddress, size: segment.memorySize)
            }
            try checkClear(segment.physicalAddress..<(segment.physicalAddress + segment.memorySize), of: structures)
        }
        for segment in elf.segments where segment.memorySize > 0 {
            do {
                try source.copy(from: segment.fileOffset, count: segment.fileSize, to: GuestAddress(segment.physicalAddress), in: memory)
            } catch {
                throw .image(error)
            }
            let bss = segment.memorySize - UInt64(segment.fileSize)
            if bss > 0 { try zero(at: GuestAddress(segment.physicalAddress + UInt64(segment.fileSize)), count: bss, memory) }
        }
        return elf.physicalExtent
    }

    func checkCommandLine(_ commandLine: String, limit: Int) throws(LoadError) {
        guard commandLine.utf8.count <= limit else { throw .commandLineTooLong(length: commandLine.utf8.count, limit: limit) }
    }

    func checkClear(_ kernel: Range<UInt64>, of structures: [Placement]) throws(LoadError) {
        for structure in structures {
            let other = structure.range.lowerBound.rawValue..<structure.range.upperBound.rawValue
            if other.overlaps(kernel) {
                throw .overlapsBootStructure(structure: structure.kind.rawValue, kernelStart: kernel.lowerBound, kernelEnd: kernel.upperBound)
            }
        }
    }

    /// Copies the initrd to the highest aligned address of RAM below `limit` and at or above `floor`.
    func placeInitrd(
        _ initrd: (any ImageSource)?, below limit: UInt64, above floor: UInt64, avoiding: [Placement], memory: GuestMemory
    ) throws(LoadError) -> Range<UInt64>? {
        guard let initrd, initrd.size > 0 else { return nil }
        let size = UInt64(initrd.size)
        let avoid = avoiding.map { $0.range.lowerBound.rawValue..<$0.range.upperBound.rawValue }
        guard let address = memoryMap.highestPlacement(size: size, alignment: layout.initrdAlignment, below: limit, atOrAbove: alignUp(floor, layout.initrdAlignment), avoiding: avoid)
        else { throw .initrdDoesNotFit(size: size, floor: floor, limit: min(limit, memoryMap.entries.last?.end ?? 0)) }
        do {
            try initrd.copy(from: 0, count: initrd.size, to: GuestAddress(address), in: memory)
        } catch {
            throw .image(error)
        }
        return address..<(address + size)
    }

    func range(_ start: GuestAddress, _ count: Int) -> Range<GuestAddress> {
        start..<GuestAddress(start.rawValue &+ UInt64(count))
    }

    func write(_ bytes: [UInt8], at address: GuestAddress, _ memory: GuestMemory) throws(LoadError) {
        do {
            try memory.write(bytes: bytes, at: address)
        } catch {
            throw .guestMemory(error)
        }
    }

    func zero(at address: GuestAddress, count: UInt64, _ memory: GuestMemory) throws(LoadError) {
        do {
            try memory.withUnsafeMutableBytes(at: address, count: Int(clamping: count)) { bytes in
                // SAFETY: `bytes` is the checked guest range, alive for this closure.
                if let base = bytes.baseAddress { base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes.count) }
            }
        } catch let error as GuestMemoryError {
            throw .guestMemory(error)
        } catch {
            throw .guestMemory(.addressNotMapped(address))  // not reached: the body does not throw
        }
    }
}

