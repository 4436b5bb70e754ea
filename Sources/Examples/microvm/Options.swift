// microvm's command line, parsed by hand (the examples use no argument library).

struct Options {
    struct Disk { var path: String; var readOnly: Bool }
    struct Net { var tap: String; var mac: String? }
    struct Vsock { var cid: UInt64; var path: String }
    enum Console: String { case ttyS0, hvc0 }
    /// Where the virtio devices are announced: the kernel command line, the DSDT, or both (the default,
    /// as Firecracker does: a kernel without working ACPI finds them on the command line, one with ACPI
    /// finds them in the DSDT too; the second registration of a window fails its probe harmlessly).
    enum VirtioAnnouncement: String { case both, cmdline, acpi }

    var kernel = ""
    var initrd: String?
    var memoryMiB = 128
    var cpus = 1
    var append = ""
    var timeout: Double?
    var verbose = false
    var disks: [Disk] = []
    var net: Net?
    var vsock: Vsock?
    var rng = false
    var console = Console.ttyS0
    var virtioAnnouncement = VirtioAnnouncement.both
    var faultAround = false
    var command: [String] = []

    static let usage = """
        usage: microvm --kernel PATH [--initrd PATH] [--memory MiB] [--cpus N] [--append STR] [--timeout S] [--verbose]
                       [--disk PATH[,ro]]... [--net tap=NAME[,mac=MAC]] [--vsock cid=N,path=PATH] [--rng]
                       [--console ttyS0|hvc0] [--virtio-announce both|cmdline|acpi] [--fault-around] -- COMMAND [ARG...]
        --virtio-announce  where the virtio devices are announced: the kernel command line and the DSDT (both,
                        the default), or one of them
        --fault-around  map microvm's own code as the kernel does by default, 64 KiB around each page run, and
                        keep what start-up and setup mapped (more memory, fewer page faults)
        exit status: COMMAND's, or 121 kernel panic, 122 the guest ended without the command's status,
                     123 guest or VMM failure, 124 timeout, 125 usage or host error
        """

    struct UsageError: Error { var message: String }

    init(arguments: [String]) throws(UsageError) {
        var rest = arguments[...]
        func value(_ option: String) throws(UsageError) -> String {
            guard let value = rest.popFirst() else { throw UsageError(message: "\(option) needs a value") }
            return value
        }
        func keyValues(_ option: String, _ text: String) -> [String: String] {
            Dictionary(text.split(separator: ",").map { part in
                let pair = part.split(separator: "=", maxSplits: 1)
                return (String(pair[0]), pair.count > 1 ? String(pair[1]) : "")
            }, uniquingKeysWith: { _, last in last })
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--": command = Array(rest); rest = []
            case "--kernel": kernel = try value(argument)
            case "--initrd": initrd = try value(argument)
            case "--memory":
                guard let mib = Int(try value(argument)), (16...65536).contains(mib) else { throw UsageError(message: "--memory takes MiB, 16-65536") }
                memoryMiB = mib
            case "--cpus":
                guard let count = Int(try value(argument)), (1...64).contains(count) else { throw UsageError(message: "--cpus takes 1-64") }
                cpus = count
            case "--append": append += (append.isEmpty ? "" : " ") + (try value(argument))
            case "--timeout":
                guard let seconds = Double(try value(argument)), seconds > 0 else { throw UsageError(message: "--timeout takes seconds > 0") }
                timeout = seconds
            case "--verbose": verbose = true
            case "--disk":
                let parts = try value(argument).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                guard !parts[0].isEmpty, parts.dropFirst().allSatisfy({ $0 == "ro" }) else { throw UsageError(message: "--disk takes PATH[,ro]") }
                disks.append(Disk(path: parts[0], readOnly: parts.count > 1))
            case "--net":
                let fields = keyValues(argument, try value(argument))
                guard let tap = fields["tap"], !tap.isEmpty, Set(fields.keys).isSubset(of: ["tap", "mac"]) else {
                    throw UsageError(message: "--net takes tap=NAME[,mac=MAC]")
                }
                net = Net(tap: tap, mac: fields["mac"])
            case "--vsock":
                let fields = keyValues(argument, try value(argument))
                guard let cid = fields["cid"].flatMap({ UInt64($0) }), cid >= 3, let path = fields["path"], !path.isEmpty else {
                    throw UsageError(message: "--vsock takes cid=N (3 or more),path=PATH")
                }
                vsock = Vsock(cid: cid, path: path)
            case "--rng": rng = true
            case "--fault-around": faultAround = true
            case "--console":
                guard let choice = Console(rawValue: try value(argument)) else { throw UsageError(message: "--console takes ttyS0 or hvc0") }
                console = choice
            case "--virtio-announce":
                guard let choice = VirtioAnnouncement(rawValue: try value(argument)) else {
                    throw UsageError(message: "--virtio-announce takes both, cmdline or acpi")
                }
                virtioAnnouncement = choice
            case "--help", "-h": throw UsageError(message: "")
            default: throw UsageError(message: "unknown argument '\(argument)'")
            }
        }
        guard !kernel.isEmpty else { throw UsageError(message: "--kernel is required") }
        guard !command.isEmpty else { throw UsageError(message: "a COMMAND after -- is required") }
    }
}
