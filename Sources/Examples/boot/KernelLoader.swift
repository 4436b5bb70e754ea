// Loading the kernel with the LinuxLoader product: the ACPI tables first (the loader records the RSDP's
// address), then the kernel, initrd and command line (bzImage, PVH vmlinux or multiboot; the payload
// decompressed here unless `--decompress guest`), then X86Setup's boot GDT and (for the 64-bit entry)
// identity page tables. What the loader reports becomes the lines boot prints on stderr.

import KVM
import KVMBindings
import LinuxLoader
import X86Setup

/// What to boot and how: the loader's facts, in the form the vCPU setup takes them.
struct BootPlan {
    var loaded: LoadedKernel
    var isLongMode: Bool { loaded.entry.mode == .longMode64 }
    var entry: UInt64 { loaded.entry.instructionPointer.rawValue }
    /// RSI (64-bit protocol) or EBX (PVH, multiboot).
    var argument: UInt64 { isLongMode ? loaded.entry.rsi : loaded.entry.rbx }

    /// The boot vCPU's special registers: 64-bit (CS 0x10, data 0x18, paging on) or 32-bit flat (CS 0x08).
    var entryState: X86Setup.EntryState {
        let gdt = GuestAddress(GuestLayout.gdt), idt = GuestAddress(GuestLayout.idt)
        return isLongMode
            ? LinuxBootGDT.longModeEntry(gdt: gdt, idt: idt, cr3: GuestLayout.pml4) : LinuxBootGDT.protectedModeEntry(gdt: gdt, idt: idt)
    }

    /// The boot vCPU's general registers: RIP, RFLAGS = 2, and RSI, EBX and EAX as the loader says.
    var registers: KVMRegs {
        X86Setup.EntryState.registers(rip: entry, rsp: GuestLayout.stackTop) { registers in
            registers.rsi = loaded.entry.rsi
            registers.rbx = loaded.entry.rbx
            registers.rax = loaded.entry.rax  // multiboot: EAX = 0x2BADB002 (0 otherwise)
        }
    }

    /// One line on how the kernel is decompressed (bzImage), empty otherwise.
    var decompressionNote: String {
        switch loaded.decompression {
        case .host(let format, let compressed, let decompressed, let duration)?:
            let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
            return "kernel decompressed by the VMM (\(format) payload, \(compressed) → \(decompressed) bytes, \(milliseconds) ms); "
                + "entering startup_64 at \(hex(entry))"
        case .guest(let reason)?:
            let why: String
            switch reason {
            case .requested: why = "--decompress guest"
            case .noDecompressor(let format): why = "the VMM does not decompress \(format) payloads"
            case .noPayloadRecorded: why = "\(reason)"
            }
            return "the kernel decompresses itself in the guest (\(why))"
        case nil: return ""
        }
    }

    var summary: String {
        var text: String
        switch loaded.format {
        case .bzImage(let version):
            if case .host? = loaded.decompression {
                text = "bzImage (boot protocol \(SetupHeader.versionString(version))), decompressed by the VMM, 64-bit entry (startup_64)"
            } else {
                text = "bzImage (boot protocol \(SetupHeader.versionString(version))), 64-bit entry"
            }
        case .pvh: text = "vmlinux, PVH 32-bit entry"
        case .multiboot: text = "multiboot, 32-bit entry"
        }
        text += " at \(hex(entry)), kernel \(loaded.kernel.lowerBound)-\(loaded.kernel.upperBound)"
        if let initrd = loaded.initrd {
            text += ", initrd \(initrd.upperBound.rawValue - initrd.lowerBound.rawValue) bytes at \(initrd.lowerBound)"
        }
        return text
    }
}

enum BootKernel {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func load(
        kernel: any ImageSource, initrd: (any ImageSource)?, commandLine: String, memory: GuestMemory, map: MemoryMap,
        acpi: ACPITables, decompression: Options.Decompression = .host
    ) throws -> BootPlan {
        try memory.write(bytes: acpi.blob, at: GuestAddress(GuestLayout.acpiBase))
        let loader = KernelLoader(
            memoryMap: map, decompression: decompression == .host ? .host(.standard) : .guest,
            rsdpAddress: GuestAddress(acpi.rsdpAddress))
        let loaded: LoadedKernel
        do {
            loaded = try loader.load(kernel: kernel, initrd: initrd, commandLine: commandLine, into: memory)
        } catch {
            throw Failure(description: "\(error)" + hint(for: error))
        }
        let plan = BootPlan(loaded: loaded)
        try LinuxBootGDT.write(into: memory, gdt: GuestAddress(GuestLayout.gdt), idt: GuestAddress(GuestLayout.idt))
        if plan.isLongMode {
            var tables = try PageTableBuilder(at: GuestAddress(GuestLayout.pml4), maximumTables: 2 + GuestLayout.identityMappedGiB)
            try tables.identityMap(size: UInt64(GuestLayout.identityMappedGiB) << 30, pageSize: .size2MiB)
            try tables.write(into: memory)
        }
        return plan
    }

    /// What the user can do about `error`, for the few where boot has an option that helps.
    static func hint(for error: LoadError) -> String {
        switch error {
        case .kernelDoesNotFit, .segmentOutsideRAM, .initrdDoesNotFit: return ": give the guest more --memory"
        case .decompressionFailed: return " (--decompress guest lets the kernel decompress itself)"
        default: return ""
        }
    }
}
