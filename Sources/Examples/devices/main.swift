// devices: two vCPUs on two threads, talking to two emulated devices.
//
// How it works:
//
// 1. The VM gets KVM's in-kernel interrupt controllers (KVM_CREATE_IRQCHIP: the PC's 8259A PICs, the
//    I/O APIC, a local APIC per vCPU) before any vCPU exists, and one 64 KiB memory slot holding both
//    guest programs (Guests.swift, 16-bit real mode).
// 2. The devices live in this program:
//    - a 16550A UART at ports 0x3F8-0x3FF (COM1, LegacyDevices' `Serial16550A`): the guest's `in`/`out`
//      there exit to us (KVM_EXIT_IO), and the I/O bus (DeviceBus' `MachineBus`) routes them to it. Its output goes to stdout; its input comes from
//      stdin, which the main thread polls (never blocking a vCPU) and hands over whenever the guest is
//      ready for it (MCR.RTS set, room in the FIFO). Its interrupt output drives IRQ 4 of the in-kernel
//      PIC (KVM_IRQ_LINE); KVM then delivers vector 0x0C to vCPU 0 by itself. When stdin ends, the
//      UART drops carrier detect, as a modem does when the other end hangs up.
//    - a "mailbox" at guest-physical 0xD0000 (Mailbox.swift), where no memory slot is: every access
//      exits (KVM_EXIT_MMIO), and the bus routes it there. A vCPU posts values to it and reports DONE.
//    The bus is a value built before the vCPUs start; each vCPU thread gets its own copy, whose MMIO
//    side holds that vCPU's view of the mailbox (DONE records who wrote it).
//    The UART and the mailbox lock their state (Mutex): both vCPU threads and the stdin thread use them.
// 3. vCPU 0 sets up the PIC and the UART, prints a banner and sleeps in `sti; hlt` (with the in-kernel
//    irqchip, `hlt` waits inside KVM for an interrupt instead of exiting). Each IRQ 4 runs its handler:
//    echo every received byte upper-cased; on a carrier drop, say goodbye and report to DONE how many
//    bytes it echoed. vCPU 1 meanwhile posts the Fibonacci numbers below 2^16 to the mailbox and
//    reports to DONE how many the mailbox counted.
// 4. Each vCPU is created on the thread that runs it (a VCPU is not Sendable; the VirtualMachine is):
//    `vm.spawnVCPU(id:)` starts the thread, creates the vCPU there and returns a handle to join.
//    vCPU 1 is an application processor: with an in-kernel irqchip it would wait for INIT/SIPI, so it
//    is set runnable directly (KVM_SET_MP_STATE).
// 5. At the end the VMM checks what the mailbox got against the same numbers computed in Swift.
//
// Usage: echo hello | devices      (or run it in a terminal, type lines, end with Ctrl-D)
import DeviceBus
import Glibc
import KVM
import KVMBindings
import LegacyDevices
import Synchronization

/// Writes `bytes` to stdout at once (the UART's output and our own lines share it, unbuffered).
func writeOut(_ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        offset += written
    }
}

func say(_ line: String) { writeOut(Array((line + "\n").utf8)) }

/// The VM and its devices: what the vCPU threads share with the main thread.
final class Machine: Sendable {
    let vm: VirtualMachine
    let serial: Serial16550A
    let mailbox = Mailbox()

    init(vm: VirtualMachine, serial: Serial16550A) {
        self.vm = vm
        self.serial = serial
    }
}

/// A count that several threads update.
final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

struct VMMError: Error, CustomStringConvertible {
    var description: String
}

/// The body of a vCPU thread: start `vcpu` in real mode at `entry`, and serve its exits through `bus`
/// until it reports DONE to the mailbox. Returns its exit counts.
func runVCPU(_ vcpu: VCPU, entry: UInt64, stackTop: UInt64, on machine: Machine, bus: MachineBus) throws(VMMError) -> [String: Int] {
    let id = vcpu.id
    var exits: [String: Int] = [:]
    do {
        if id != 0 { try vcpu.setMPState(.runnable) }
        var special = try vcpu.specialRegisters()
        for segment in [\KVMSRegs.cs, \.ds, \.es, \.ss] as [WritableKeyPath<KVMSRegs, KVMSegment>] {
            special[keyPath: segment].base = 0      // the reset state has CS base 0xFFFF0000
            special[keyPath: segment].selector = 0
        }
        try vcpu.setSpecialRegisters(special)
        var registers = KVMRegs()
        registers.rip = entry
        registers.rsp = stackTop
        registers.rflags = 0x2
        try vcpu.setRegisters(registers)

        serving: while true {
            let reason = try vcpu.run()
            switch reason {
            case .io(let io):
                if case .unclaimed(let access) = try bus.handle(io, on: vcpu) {
                    throw VMMError(description: "port I/O to no device: \(access)")
                }
                exits["port I/O (UART)", default: 0] += 1
            case .mmio(let access):
                if case .unclaimed(let access) = bus.handle(access, on: vcpu) {
                    throw VMMError(description: "MMIO to no device: \(access)")
                }
                exits["MMIO (mailbox)", default: 0] += 1
                if machine.mailbox.isDone(id) { break serving }
            case .interrupted:
                continue
            case .stopped:
                throw VMMError(description: "timed out")
            default:
                let rip = (try? vcpu.registers().rip).map { "0x" + String($0, radix: 16) } ?? "?"
                throw VMMError(description: "unexpected exit at rip \(rip): \(reason)")
            }
        }
        return exits
    } catch let error as VMMError {
        throw error
    } catch {
        throw VMMError(description: "\(error)")
    }
}

do {
    let kvm = try KVMSystem()
    let vm = try kvm.createVM()
    try vm.createIRQChip()
    _ = try vm.mapMemory(slot: 0, at: 0, size: Layout.memorySize)
    try vm.memory.write(bytes: uartProgram(), at: GuestAddress(Layout.uartProgram))
    try vm.memory.write(bytes: workerProgram(), at: GuestAddress(Layout.workerProgram))

    let interruptsRaised = Counter()
    let serial = Serial16550A(
        interrupt: InterruptLine { level in
            if level { interruptsRaised.value.add(1, ordering: .relaxed) }
            do { try vm.setIRQLine(COM1.irq, level: level) } catch { say("devices: IRQ \(COM1.irq): \(error)") }
        },
        output: { byte in writeOut([byte]) })
    let machine = Machine(vm: vm, serial: serial)

    // The bus: the UART on the port I/O side for both vCPUs; the mailbox on the MMIO side, as each
    // vCPU's own view of it.
    var sharedBus = MachineBus()
    try sharedBus.portIO.register(serial, base: UInt64(COM1.base), size: Serial16550A.size)
    func bus(for vcpu: UInt) throws -> MachineBus {
        var bus = sharedBus
        try bus.mmio.register(machine.mailbox.view(for: vcpu), base: Layout.mailbox, size: Mailbox.size)
        return bus
    }
    let (bus0, bus1) = (try bus(for: 0), try bus(for: 1))

    say("devices: vCPU 0 runs a UART echo (IRQ \(COM1.irq)), vCPU 1 posts to a mailbox at 0xD0000")
    let threads = [
        try vm.spawnVCPU(id: 0) { vcpu throws(VMMError) in
            try runVCPU(vcpu, entry: Layout.uartProgram, stackTop: Layout.uartStackTop, on: machine, bus: bus0)
        },
        try vm.spawnVCPU(id: 1) { vcpu throws(VMMError) in
            try runVCPU(vcpu, entry: Layout.workerProgram, stackTop: Layout.workerStackTop, on: machine, bus: bus1)
        },
    ]

    machine.serial.pumpInput(from: STDIN_FILENO, while: { !threads[0].isFinished })
    serial.setModemInputs([.clearToSend, .dataSetReady])  // carrier gone: the other end hung up

    // Give the guest 10 s to finish, then stop whatever still runs.
    var waited = 0
    while !threads.allSatisfy(\.isFinished) && waited < 1000 {
        usleep(10_000)
        waited += 1
    }
    for thread in threads where !thread.isFinished { thread.stop() }

    // Report and check.
    var failed = false
    let outcomes = threads.map { thread in Result { () throws(VMMError) in try thread.join() } }
    let results = machine.mailbox.results
    for id in [UInt(0), 1] {
        switch outcomes[Int(id)] {
        case .success(let exits):
            let counts = exits.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            say("vCPU \(id) done, result \(results[id].map(String.init) ?? "none"); exits: \(counts)")
        case .failure(let error):
            say("vCPU \(id) failed: \(error)")
            failed = true
        }
    }
    var expected: [UInt64] = [0, 1]
    while expected.count < fibonacciCount { expected.append(expected[expected.count - 1] + expected[expected.count - 2]) }
    let posted = machine.mailbox.posted
    let verified = posted == expected && results[1] == UInt64(fibonacciCount)
    say("mailbox: vCPU 1 posted \(posted.count) values: \(posted.map(String.init).joined(separator: " "))")
    say("mailbox: \(verified ? "verified" : "MISMATCH"): the first \(fibonacciCount) Fibonacci numbers")
    say("uart: vCPU 0 echoed \(results[0].map(String.init) ?? "no") bytes;"
        + " IRQ \(COM1.irq) raised \(interruptsRaised.value.load(ordering: .relaxed)) time(s)")
    if failed || !verified { exit(1) }
} catch {
    say("devices: \(error)")
    exit(1)
}
