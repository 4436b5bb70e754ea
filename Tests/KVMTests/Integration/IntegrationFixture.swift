import Glibc
import KVM
import X86Setup
import KVMBindings
import Synchronization
import Testing

// Shared fixture for the integration tests: real VMs running hand-assembled guests.
//
// Every integration suite is nested in `IntegrationTests`, which is `.serialized`: the tests share one
// process-wide view (file descriptors, timing) and must not disturb one another. They are disabled, with
// a reason, where /dev/kvm is absent or not accessible.

/// The root of the integration suites (one scenario per file, each an extension of this type).
@Suite(.serialized, .enabled(if: IntegrationHost.isAvailable, IntegrationHost.skipReason))
struct IntegrationTests {}

enum IntegrationHost {
    static let isAvailable = access("/dev/kvm", R_OK | W_OK) == 0
    static let skipReason: Comment = "/dev/kvm is absent or not accessible: integration tests need KVM"
    /// Whether KVM runs on PVM (kvm_pvm: shadow paging, guest CPL0 emulated, CPL3 native), which
    /// differs from VMX/SVM in a few documented places.
    static let isPVM = access("/sys/module/kvm_pvm", F_OK) == 0
}

/// Errors the fixture raises for guest behaviour a test did not expect.
struct GuestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A VM with memory in slot 0 at guest-physical 0 and one vCPU, created on the calling thread.
///
/// Not Sendable (it owns a vCPU): create it on the thread that runs it.
final class TestMachine {
    let vm: VirtualMachine
    let vcpu: VCPU
    /// Stops any `run()` that lasts longer than the deadline (so a broken guest fails, not hangs).
    private let watchdog: Watchdog

    /// - Parameters:
    ///   - memorySize: bytes of RAM in slot 0 at guest-physical 0.
    ///   - timeoutSeconds: after this, every run returns `.stopped` (the watchdog).
    ///   - beforeVCPU: work that must happen before the vCPU exists (e.g. `createIRQChip`, more slots).
    init(
        memorySize: Int = 0x10_0000, timeoutSeconds: Double = 10,
        beforeVCPU: (VirtualMachine) throws -> Void = { _ in }
    ) throws {
        vm = try TestMachine.system().createVM()
        try vm.mapMemory(slot: 0, at: 0, size: memorySize)
        try beforeVCPU(vm)
        vcpu = try vm.createVCPU(id: 0)
        watchdog = try Watchdog(stopper: vcpu.stopper, seconds: timeoutSeconds)
    }

    deinit { watchdog.cancel() }

    /// One `/dev/kvm` handle for the whole test process.
    static func system() throws -> KVMSystem {
        try sharedSystem.withLock { (system: inout KVMSystem?) throws -> KVMSystem in
            if let system { return system }
            let opened = try KVMSystem()
            system = opened
            return opened
        }
    }

    private static let sharedSystem = Mutex<KVMSystem?>(nil)

    var memory: GuestMemory { vm.memory }

    /// Copies `bytes` to guest-physical `address`.
    func load(_ bytes: [UInt8], at address: UInt64) throws {
        try vm.memory.write(bytes: bytes, at: GuestAddress(address))
    }

    // MARK: Modes

    /// Real mode with CS = DS = ES = SS = 0 (flat first 64 KiB), IP = `rip`, interrupts off.
    func enterRealMode(rip: UInt64, registers: (inout KVMRegs) -> Void = { _ in }) throws {
        try vcpu.enterRealMode(rip: rip, registers: registers)
    }

    /// Writes page tables, GDT and TSS (X86Setup's LongModeSetup, default layout, low 16 KiB) and
    /// loads them: CPUID from KVM_GET_SUPPORTED_CPUID, then its kernel entry state (or user entry
    /// state with `user`: CS/SS/DS/ES/FS/GS at CPL3), RIP = `rip`, RSP = `rsp`.
    @discardableResult
    func enterLongMode(rip: UInt64, rsp: UInt64, user: Bool = false) throws -> LongModeSetup.Result {
        let setup = try LongModeSetup.write(into: vm.memory)
        try vcpu.setCPUID(TestMachine.system().supportedCPUID())
        let entry = user ? setup.userEntry : setup.kernelEntry
        try vcpu.setSpecialRegisters(entry.applied(to: try vcpu.specialRegisters()))
        var registers = KVMRegs()
        registers.rip = rip
        registers.rsp = rsp
        registers.rflags = 0x2
        try vcpu.setRegisters(registers)
        return setup
    }

    // MARK: Running

    /// Runs until an exit that is not `.interrupted` (a stray signal).
    func run() throws(KVMRuntimeError) -> VCPUExit {
        while true {
            let exit = try vcpu.run()
            if case .interrupted = exit { continue }
            return exit
        }
    }

    /// Runs and requires a port-I/O exit, returning it.
    func runExpectingIO(_ comment: String = "") throws -> PortIO {
        let exit = try run()
        guard case .io(let io) = exit else { throw GuestFailure("expected a port I/O exit \(comment), got \(exit)") }
        return io
    }

    /// Runs and requires an MMIO exit, returning it.
    func runExpectingMMIO(_ comment: String = "") throws -> MMIOAccess {
        let exit = try run()
        guard case .mmio(let access) = exit else { throw GuestFailure("expected an MMIO exit \(comment), got \(exit)") }
        return access
    }

    /// Runs and requires `.halt`.
    func runExpectingHalt(_ comment: String = "") throws {
        let exit = try run()
        guard case .halt = exit else { throw GuestFailure("expected hlt \(comment), got \(exit)") }
    }
}

extension VCPU {
    /// Real mode with CS = DS = ES = SS = 0, IP = `rip`, RFLAGS = 2 (interrupts off).
    func enterRealMode(rip: UInt64, registers configure: (inout KVMRegs) -> Void = { _ in }) throws {
        var special = try specialRegisters()
        for keyPath in [\KVMSRegs.cs, \.ds, \.es, \.ss] as [WritableKeyPath<KVMSRegs, KVMSegment>] {
            special[keyPath: keyPath].base = 0
            special[keyPath: keyPath].selector = 0
        }
        try setSpecialRegisters(special)
        var registers = KVMRegs()
        registers.rip = rip
        registers.rflags = 0x2
        configure(&registers)
        try setRegisters(registers)
    }
}

/// A thread that calls `stopper.stop()` every 10 ms once `seconds` have passed, until cancelled: a
/// guest that never exits makes the test fail with `.stopped` instead of hanging the run.
final class Watchdog {
    private final class Flag: Sendable {
        let value = Atomic<Bool>(false)
    }

    private let cancelled = Flag()
    private var thread: HostThread<Void, Never>?

    init(stopper: VCPUStopper, seconds: Double) throws {
        let cancelled = cancelled
        thread = try HostThread {
            let deadline = MonotonicClock.now + seconds
            while !cancelled.value.load(ordering: .sequentiallyConsistent) {
                if MonotonicClock.now >= deadline { stopper.stop() }
                sleep(milliseconds: 10)
            }
        }
    }

    /// Stops the watchdog and joins its thread.
    func cancel() {
        cancelled.value.store(true, ordering: .sequentiallyConsistent)
        thread?.join()
        thread = nil
    }

    deinit { cancel() }
}

/// CLOCK_MONOTONIC in seconds.
enum MonotonicClock {
    static var now: Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
