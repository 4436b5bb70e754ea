// What the loader did, in words: the lines a VMM prints about a boot (nothing here prints them).

extension LoadedKernel {
    /// How the kernel is decompressed, for a bzImage: by the VMM (format, sizes, time, and the
    /// `startup_64` entry) or by the kernel itself in the guest (and why); empty for PVH and multiboot.
    public var decompressionSummary: String {
        switch decompression {
        case .host(let format, let compressed, let decompressed, let duration)?:
            let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
            return "kernel decompressed by the VMM (\(format) payload, \(compressed) → \(decompressed) bytes, \(milliseconds) ms); "
                + "entering startup_64 at \(hex(entry.instructionPointer.rawValue))"
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

    /// One line: the format and entry, where the kernel and the initrd went.
    public var summary: String {
        var text: String
        switch format {
        case .bzImage(let version):
            if case .host? = decompression {
                text = "bzImage (boot protocol \(SetupHeader.versionString(version))), decompressed by the VMM, 64-bit entry (startup_64)"
            } else {
                text = "bzImage (boot protocol \(SetupHeader.versionString(version))), 64-bit entry"
            }
        case .pvh: text = "vmlinux, PVH 32-bit entry"
        case .multiboot: text = "multiboot, 32-bit entry"
        }
        text += " at \(hex(entry.instructionPointer.rawValue)), kernel \(kernel.lowerBound)-\(kernel.upperBound)"
        if let initrd {
            text += ", initrd \(initrd.upperBound.rawValue - initrd.lowerBound.rawValue) bytes at \(initrd.lowerBound)"
        }
        return text
    }
}
