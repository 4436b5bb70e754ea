// Command-line options, parsed by hand (no Foundation, no ArgumentParser: the VMM stays small).

import X86Setup

struct Options: Equatable {
    /// Who decompresses a bzImage's kernel.
    enum Decompression: String, Equatable { case host, guest }

    static let usage = """
        usage: boot --kernel PATH [--initrd PATH] [--cmdline STR] [--memory MiB] [--cpus N]
                    [--decompress host|guest] [--huge-pages] [--prefault] [--timeout SECONDS] [--cpuid-clear LEAF[.SUBLEAF].REG.BIT]... [--no-probe]
                    [--no-emulation-fallback] [--report-memory] [--fault-around] [--profile-guest MS [--symbols PATH]]
                    [--verbose] [--dry-run]
               boot --probe-only

          --kernel PATH        a bzImage (64-bit boot protocol) or an uncompressed vmlinux with a PVH note
          --initrd PATH        an initramfs, passed as the ramdisk (bzImage) or PVH module 0
          --cmdline STR        kernel command line (default: "\(Options.defaultCommandLine)")
          --memory MiB         guest RAM (default \(Options.defaultMemoryMiB))
          --cpus N             vCPUs, 1-255 (default 1)
          --decompress WHO     bzImage: `host` (default) decompresses the kernel in the VMM (LZ4, gzip, xz, zstd)
                               and enters it at startup_64; `guest` lets the kernel's own decompressor run.
                               Other payload formats are always decompressed by the guest.
          --huge-pages         ask for transparent huge pages on guest RAM (MADV_HUGEPAGE)
          --prefault           populate all of guest RAM before the guest starts (MADV_POPULATE_WRITE)
          --timeout SECONDS    stop the guest and exit 124 after this long (default: none)
          --cpuid-clear BIT    hide a CPUID bit, e.g. 1.ecx.26 (XSAVE) or 7.0.ebx.5; repeatable
          --no-probe           do not probe KVM's emulator (keeps XSAVE/CX16 even where it cannot run them)
          --no-emulation-fallback
                               where KVM cannot emulate a kernel int3 or fwait, fail instead of delivering
                               the #BP through the guest's IDT (int3) or stepping over it (fwait)
          --report-memory      print the VMM's RSS, the guest memory touched and their difference at exit
          --fault-around       map the VMM's own code as the kernel does by default, 64 KiB around each page
                               run, and keep what start-up and setup mapped (more memory, fewer page faults)
          --profile-guest MS   sample every vCPU's RIP every MS milliseconds; print where the guest spent
                               its time at exit (overall and as a timeline)
          --symbols PATH       a System.map to name the sampled functions (e.g. from the kernel's -dbg package)
          --verbose            print the boot plan and exit statistics to stderr
          --probe-only         print the kernel parameters this host's KVM needs (from the emulator probe;
                               empty on hardware virtualization) and exit
          --dry-run            load everything into (plain) guest memory, print the plan and the boot
                               structures in hex, and exit without running (needs no /dev/kvm)

        exit status: 0 guest powered off or reset, 1 guest failure (or kernel panic), 2 usage,
                     3 host or load error, 124 timeout
        """
    static let defaultCommandLine = "console=ttyS0 reboot=k panic=1"
    static let defaultMemoryMiB = 256

    var kernelPath = ""
    var initrdPath: String?
    var commandLine = Options.defaultCommandLine
    var memoryMiB = Options.defaultMemoryMiB
    var cpus = 1
    var timeoutSeconds: Double?
    var decompression = Decompression.host
    var hugePages = false
    var prefault = false
    var cpuidClears: [CPUIDPolicy.Clear] = []
    var probeEmulator = true
    var emulationFallback = true
    var reportMemory = false
    var faultAround = false
    var profileIntervalMilliseconds: Int?
    var symbolsPath: String?
    var verbose = false
    var dryRun = false
    var probeOnly = false

    struct Failure: Error, Equatable, CustomStringConvertible {
        var description: String
    }

    init() {}

    /// Parses `arguments` (without the program name).
    init(arguments: [String]) throws(Failure) {
        var index = 0
        func value(_ name: String) throws(Failure) -> String {
            index += 1
            guard index < arguments.count else { throw Failure(description: "\(name) needs a value") }
            return arguments[index]
        }
        func number(_ name: String) throws(Failure) -> Int {
            let text = try value(name)
            guard let number = Int(text), number > 0 else { throw Failure(description: "\(name): \"\(text)\" is not a positive number") }
            return number
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "--kernel": kernelPath = try value(argument)
            case "--initrd": initrdPath = try value(argument)
            case "--cmdline": commandLine = try value(argument)
            case "--memory": memoryMiB = try number(argument)
            case "--cpus": cpus = try number(argument)
            case "--decompress":
                let text = try value(argument)
                guard let who = Decompression(rawValue: text) else { throw Failure(description: "--decompress: \"\(text)\" is not host or guest") }
                decompression = who
            case "--timeout":
                let text = try value(argument)
                guard let seconds = Double(text), seconds > 0 else { throw Failure(description: "--timeout: \"\(text)\" is not a positive number") }
                timeoutSeconds = seconds
            case "--cpuid-clear":
                let text = try value(argument)
                guard let clear = CPUIDPolicy.Clear(text) else {
                    throw Failure(description: "--cpuid-clear: \"\(text)\" is not LEAF[.SUBLEAF].REG.BIT (e.g. 1.ecx.26)")
                }
                cpuidClears.append(clear)
            case "--huge-pages": hugePages = true
            case "--prefault": prefault = true
            case "--no-probe": probeEmulator = false
            case "--no-emulation-fallback": emulationFallback = false
            case "--report-memory": reportMemory = true
            case "--fault-around": faultAround = true
            case "--profile-guest": profileIntervalMilliseconds = try number(argument)
            case "--symbols": symbolsPath = try value(argument)
            case "--verbose", "-v": verbose = true
            case "--dry-run": dryRun = true
            case "--probe-only": probeOnly = true
            case "--help", "-h": throw Failure(description: "")
            default: throw Failure(description: "unknown argument \"\(argument)\"")
            }
            index += 1
        }
        guard !kernelPath.isEmpty || probeOnly else { throw Failure(description: "--kernel is required") }
        guard symbolsPath == nil || profileIntervalMilliseconds != nil else { throw Failure(description: "--symbols needs --profile-guest") }
        guard (1...255).contains(cpus) else { throw Failure(description: "--cpus must be 1-255") }
        guard memoryMiB >= 16, memoryMiB <= 1 << 20 else { throw Failure(description: "--memory must be 16 MiB - 1 TiB") }
    }
}
