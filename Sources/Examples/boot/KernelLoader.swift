// Loading the kernel with the LinuxLoader product: the ACPI tables first (the loader records the RSDP's
// address), then the kernel, initrd and command line (bzImage, PVH vmlinux or multiboot; the payload
// decompressed here unless `--decompress guest`), then the boot vCPU's GDT, IDT and (for the 64-bit
// entry) identity page tables (`prepareBootProcessor`). What the loader reports becomes the lines boot
// prints on stderr.

import KVM
import KVMBindings
import LinuxLoader
import X86Setup

/// What to boot and how: the loader's facts and the boot vCPU's state.
struct BootPlan {
    var loaded: LoadedKernel
    var processor: BootProcessorState
    var isLongMode: Bool { loaded.entry.mode == .longMode64 }
    var entry: UInt64 { loaded.entry.instructionPointer.rawValue }
    /// RSI (64-bit protocol) or EBX (PVH, multiboot).
    var argument: UInt64 { isLongMode ? loaded.entry.rsi : loaded.entry.rbx }
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
        return BootPlan(loaded: loaded, processor: try loaded.prepareBootProcessor(into: memory))
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
