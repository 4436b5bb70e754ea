// long-mode: a 64-bit guest that drops to user mode and computes at native speed.
//
// How it works:
//
// 1. Memory: one 1 MiB slot at guest-physical 0. Into it go (Guest.swift): page tables identity-mapping
//    the first 1 GiB with 2 MiB pages, a GDT (kernel and user code and data segments, and a TSS) and
//    the TSS (X86Setup's LongModeSetup writes them), the kernel's code and the user program's code
//    (X86Assembler's LongModeCode assembles them).
// 2. Long mode without a boot path: a real CPU starts in 16-bit real mode and has to climb through
//    protected mode. A VMM can skip that: KVM_SET_SREGS loads the end state directly: CR0.PE|PG (paging
//    on), CR4.PAE, EFER.LME|LMA (long mode enabled and active), CR3 = the page tables, GDTR, TR, and
//    CS = a 64-bit (L=1) code segment at CPL0. KVM_SET_CPUID2 comes first, because KVM only accepts
//    EFER.LME if the guest's CPUID says the CPU has long mode.
// 3. The kernel (CPL0) prints a line to port 0xE9, halts once (this program resumes it), and `iretq`s
//    to user mode (CPL3) with a frame naming the user code and data segments. User mode prints a line
//    through an MMIO register, reads the bound N from another, counts the primes below N and writes
//    the count to a third. The MMIO registers are at 256 MiB: mapped by the page tables, backed by no
//    memory slot, so every access there exits to this program (KVM_EXIT_MMIO), which answers reads.
//    Writing the result is the guest's last act: going back from user mode to the kernel (`int`,
//    `syscall`) is not portable across hosts; on a PVM host the IDT and the syscall entry are
//    replaced by PVM's own event delivery, which a guest kernel must be written for.
// 4. Every KVM_RUN is timed (clock_gettime). A run that starts right after an exit and ends at the
//    next one with a few guest instructions in between measures the round trip of one exit: into the
//    guest, out again, back in this program. The run that ends with the result is the computation.
//    On a host where KVM runs on PVM (no VMX/SVM), kernel-mode guest code is emulated instruction by
//    instruction while user-mode code runs natively: hence the short kernel and the long user loop.
// 5. The count is checked against the same algorithm in Swift.
//
// Usage: long-mode [N]   (count the primes below N; default 3000000)
import Glibc
import KVM
import KVMBindings
import X86Setup

let bound: UInt32
if CommandLine.arguments.count > 1 {
    guard let value = UInt32(CommandLine.arguments[1]), value >= 3, value <= 100_000_000 else {
        print("usage: long-mode [N], 3 <= N <= 100000000")
        exit(2)
    }
    bound = value
} else {
    bound = 3_000_000
}

#if DEBUG
let buildConfiguration = "debug"
#else
let buildConfiguration = "release"
#endif

/// CLOCK_MONOTONIC, in nanoseconds.
func now() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// The guest's algorithm, in Swift: the primes below `bound`, by trial division by odd numbers.
func countPrimes(below bound: UInt32) -> UInt64 {
    var count: UInt64 = 1  // 2
    var n: UInt32 = 3
    while n < bound {
        var d: UInt32 = 3
        var isPrime = true
        while d * d <= n {
            if n % d == 0 {
                isPrime = false
                break
            }
            d += 2
        }
        if isPrime { count += 1 }
        n += 2
    }
    return count
}

/// The round trips of each exit kind, in the order first met.
struct ExitTimes {
    private(set) var kinds: [(name: String, nanoseconds: [UInt64])] = []

    mutating func record(_ name: String, _ nanoseconds: UInt64) {
        if let index = kinds.firstIndex(where: { $0.name == name }) {
            kinds[index].nanoseconds.append(nanoseconds)
        } else {
            kinds.append((name, [nanoseconds]))
        }
    }

    func printTable() {
        print("exit kind                  count    mean µs     min µs")
        for (name, times) in kinds {
            let mean = Double(times.reduce(0, +)) / Double(times.count) / 1000
            let minimum = Double(times.min() ?? 0) / 1000
            print(pad(name, 24) + pad(String(times.count), 7, right: true)
                + pad(format(mean), 11, right: true) + pad(format(minimum), 11, right: true))
        }
    }
}

func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return right ? padding + text : text + padding
}

/// `value` with one decimal.
func format(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}

do {
    // 1. The VM, its memory and what goes into it.
    let kvm = try KVMSystem()
    let vm = try kvm.createVM()
    _ = try vm.mapMemory(slot: 0, at: 0, size: Layout.memorySize)
    let tables = try writeSystemTables(into: vm.memory)
    try vm.memory.write(bytes: kernelProgram(), at: GuestAddress(Layout.kernelCode))
    try vm.memory.write(bytes: userProgram(), at: GuestAddress(Layout.userCode))

    // 2. One vCPU, put straight into 64-bit mode at CPL0.
    let vcpu = try vm.createVCPU(id: 0)
    try vcpu.setCPUID(kvm.supportedCPUID())
    // The entry state: CR0.PE|PG (protected mode, paging), CR4.PAE, EFER.LME|LMA (long mode enabled and
    // active), CR3 = the page tables, GDTR, TR (the TSS, busy), and CS = the 64-bit kernel code segment
    // at CPL0 with the kernel data segment in DS, ES, FS, GS and SS.
    try vcpu.setSpecialRegisters(tables.kernelEntry.applied(to: try vcpu.specialRegisters()))
    try vcpu.setRegisters(EntryState.registers(rip: Layout.kernelCode, rsp: Layout.kernelStackTop))

    print("long-mode: a 64-bit guest counts the primes below \(bound) in user mode")

    // 3. Run, answer and time every exit.
    var times = ExitTimes()
    var line: [UInt8] = []
    var result: UInt64 = 0
    var computeNanoseconds: UInt64 = 0
    /// Collects the guest's text; prints each line with the privilege level the vCPU was at when it
    /// wrote the newline (CS's RPL, from KVM_GET_SREGS).
    func printGuest(_ byte: UInt8) throws {
        if byte == UInt8(ascii: "\n") {
            let privilegeLevel = try vcpu.specialRegisters().cs.selector & 3
            print("guest (CPL\(privilegeLevel)): " + String(decoding: line, as: UTF8.self))
            line = []
        } else {
            line.append(byte)
        }
    }

    running: while true {
        let start = now()
        let reason = try vcpu.run()
        let elapsed = now() - start
        switch reason {
        case .io(let io) where io.direction == .out && io.port == consolePort:
            times.record("port I/O out (CPL0)", elapsed)
            try printGuest(UInt8(truncatingIfNeeded: io.value))
        case .halt:
            times.record("halt (CPL0)", elapsed)   // and run it again: it goes on after its hlt
        case .mmio(let access) where access.address.rawValue == Layout.mmio + UInt64(Register.console) && access.isWrite:
            times.record("MMIO write (CPL3)", elapsed)
            try printGuest(UInt8(truncatingIfNeeded: access.value))
        case .mmio(let access) where access.address.rawValue == Layout.mmio + UInt64(Register.bound) && !access.isWrite:
            times.record("MMIO read (CPL3)", elapsed)
            vcpu.completeMMIORead(UInt64(bound))
        case .mmio(let access) where access.address.rawValue == Layout.mmio + UInt64(Register.result) && access.isWrite:
            // This run began right after the bound was read: it is the whole computation (and one exit).
            computeNanoseconds = elapsed
            result = access.value
            break running
        case .interrupted:
            continue
        case let other:
            let rip = (try? vcpu.registers().rip).map { "0x" + String($0, radix: 16) } ?? "?"
            print("long-mode: unexpected exit at rip \(rip): \(other)")
            exit(1)
        }
    }

    // 4. Check the guest's answer, and report the times.
    let swiftStart = now()
    let expected = countPrimes(below: bound)
    let swiftNanoseconds = now() - swiftStart
    let verdict = result == expected ? "verified" : "MISMATCH"
    print("result: \(result) primes below \(bound) (guest), \(expected) (Swift): \(verdict)")
    print("guest compute (CPL3, native): \(format(Double(computeNanoseconds) / 1e6)) ms in one KVM_RUN;"
        + " the same in Swift on the host (\(buildConfiguration) build): \(format(Double(swiftNanoseconds) / 1e6)) ms")
    print("exits (each time is one KVM_RUN: back into the guest, the few instructions before the next exit, out):")
    times.printTable()
    if result != expected { exit(1) }
} catch {
    print("long-mode: \(error)")
    exit(1)
}
