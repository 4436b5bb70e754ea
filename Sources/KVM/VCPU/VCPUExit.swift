import KVMBindings

/// Why `VCPU.run()` returned: one case per `KVM_EXIT_*` reason of the header, each carrying its data.
/// Reasons from newer kernels arrive as `.other` with their raw value. Cases with large payloads are
/// `indirect`, so that the enum fits in four registers and the frequent exits (port I/O, MMIO, halt)
/// return without touching memory.
public enum VCPUExit: Sendable {
    /// `KVM_EXIT_UNKNOWN`: the hardware exited for a reason KVM does not handle.
    case unknown(hardwareExitReason: UInt64)
    /// `KVM_EXIT_EXCEPTION`.
    case exception(vector: UInt32, errorCode: UInt32)
    /// `KVM_EXIT_IO`: port I/O. For `in`, answer with `VCPU.completePortInput` before the next run.
    case io(PortIO)
    /// `KVM_EXIT_HYPERCALL`. Answer with `VCPU.completeHypercall`.
    indirect case hypercall(Hypercall)
    /// `KVM_EXIT_DEBUG`: single step or breakpoint (`KVM_SET_GUEST_DEBUG`).
    indirect case debug(KVMDebugExitArch)
    /// `KVM_EXIT_HLT`: the guest executed `hlt` (without an in-kernel LAPIC).
    case halt
    /// `KVM_EXIT_MMIO`: an access to guest-physical memory no slot backs (or a read-only slot's write).
    /// For reads, answer with `VCPU.completeMMIORead` before the next run.
    case mmio(MMIOAccess)
    /// `KVM_EXIT_IRQ_WINDOW_OPEN`.
    case irqWindowOpen
    /// `KVM_EXIT_SHUTDOWN`: triple fault.
    case shutdown
    /// `KVM_EXIT_FAIL_ENTRY`: the hardware refused the guest state.
    case failEntry(hardwareEntryFailureReason: UInt64, cpu: UInt32)
    /// `KVM_EXIT_INTR`: a signal interrupted `KVM_RUN` (not a stop request).
    case interrupted
    /// `VCPUStopper.stop()` was called.
    case stopped
    /// `KVM_EXIT_SET_TPR`.
    case setTPR
    /// `KVM_EXIT_TPR_ACCESS`.
    case tprAccess(rip: UInt64, isWrite: Bool)
    /// `KVM_EXIT_S390_SIEIC`.
    indirect case s390SIEIC(KVMRun.Exit.S390SIEIC)
    /// `KVM_EXIT_S390_RESET`.
    case s390Reset(flags: UInt64)
    /// `KVM_EXIT_DCR` (PowerPC).
    indirect case dcr(KVMRun.Exit.DCR)
    /// `KVM_EXIT_NMI`.
    case nmi
    /// `KVM_EXIT_INTERNAL_ERROR`: e.g. an instruction KVM's emulator cannot handle.
    indirect case internalError(InternalError)
    /// `KVM_EXIT_OSI` (PowerPC).
    indirect case osi(KVMRun.Exit.OSI)
    /// `KVM_EXIT_PAPR_HCALL` (PowerPC).
    indirect case paprHypercall(KVMRun.Exit.PAPRHcall)
    /// `KVM_EXIT_S390_UCONTROL`.
    indirect case s390UserControl(KVMRun.Exit.S390Ucontrol)
    /// `KVM_EXIT_WATCHDOG` (PowerPC).
    case watchdog
    /// `KVM_EXIT_S390_TSCH`.
    indirect case s390TSCH(KVMRun.Exit.S390TSCH)
    /// `KVM_EXIT_EPR` (PowerPC).
    indirect case epr(KVMRun.Exit.EPR)
    /// `KVM_EXIT_SYSTEM_EVENT`: the guest asked for shutdown, reset, crash handling, ...
    indirect case systemEvent(SystemEvent)
    /// `KVM_EXIT_S390_STSI`.
    indirect case s390STSI(KVMRun.Exit.S390STSI)
    /// `KVM_EXIT_IOAPIC_EOI` (split irqchip).
    case ioapicEOI(vector: UInt8)
    /// `KVM_EXIT_HYPERV`.
    indirect case hyperV(KVMHyperVExit)
    /// `KVM_EXIT_ARM_NISV`.
    indirect case armNISV(KVMRun.Exit.ARMNISV)
    /// `KVM_EXIT_X86_RDMSR` (with `KVM_CAP_X86_USER_SPACE_MSR`). Answer with `VCPU.completeMSRRead`.
    case readMSR(MSRAccess)
    /// `KVM_EXIT_X86_WRMSR`. Answer with `VCPU.completeMSRWrite`.
    case writeMSR(MSRAccess)
    /// `KVM_EXIT_DIRTY_RING_FULL`: harvest the dirty ring, then run again.
    case dirtyRingFull
    /// `KVM_EXIT_AP_RESET_HOLD` (SEV-ES).
    case apResetHold
    /// `KVM_EXIT_X86_BUS_LOCK`.
    case busLock
    /// `KVM_EXIT_XEN`.
    indirect case xen(KVMXenExit)
    /// `KVM_EXIT_RISCV_SBI`.
    indirect case riscvSBI(KVMRun.Exit.RISCVSBI)
    /// `KVM_EXIT_RISCV_CSR`.
    indirect case riscvCSR(KVMRun.Exit.RISCVCSR)
    /// `KVM_EXIT_NOTIFY`.
    case notify(flags: UInt32)
    /// `KVM_EXIT_LOONGARCH_IOCSR`.
    indirect case loongArchIOCSR(KVMRun.Exit.IOCSRIO)
    /// `KVM_EXIT_MEMORY_FAULT`: the guest accessed `size` bytes at `address` that KVM could not
    /// resolve (private/shared conversion, guest_memfd).
    indirect case memoryFault(flags: UInt64, address: GuestAddress, size: UInt64)
    /// A reason this version of the bindings does not know.
    case other(KVMExitReason)
}

/// A port I/O exit (`kvm_run.io`).
///
/// Stored compactly (12 bytes) so that `VCPUExit` stays small enough to return in registers.
public struct PortIO: Sendable, Hashable {
    public enum Direction: Sendable, Hashable { case `in`, out }
    public let port: UInt16
    public let direction: Direction
    private let elementSize: UInt8
    private let elementCount: UInt32
    /// For `out`: the first element, zero-extended. For `in`: 0.
    public let value: UInt32

    /// Bytes per element: 1, 2 or 4.
    public var size: Int { Int(elementSize) }
    /// Elements (more than 1 for string instructions such as `rep outsb`).
    public var count: Int { Int(elementCount) }

    @usableFromInline
    init(direction: Direction, port: UInt16, size: UInt8, count: UInt32, value: UInt32) {
        self.port = port
        self.direction = direction
        elementSize = size
        elementCount = count
        self.value = value
    }
}

/// An MMIO exit (`kvm_run.mmio`).
public struct MMIOAccess: Sendable, Hashable {
    /// The guest-physical address accessed.
    public let address: GuestAddress
    /// For writes: the bytes written, little-endian, zero-extended. For reads: 0.
    public let value: UInt64
    private let byteLength: UInt8
    public let isWrite: Bool

    /// 1 to 8 bytes.
    public var length: Int { Int(byteLength) }

    @usableFromInline
    init(address: GuestAddress, length: UInt8, isWrite: Bool, value: UInt64) {
        self.address = address
        self.value = value
        byteLength = length
        self.isWrite = isWrite
    }
}

/// A hypercall exit (`kvm_run.hypercall`).
public struct Hypercall: Sendable, Hashable {
    public let number: UInt64
    public let arguments: [UInt64]
    public let longMode: Bool
}

/// An MSR exit (`kvm_run.msr`).
public struct MSRAccess: Sendable, Hashable {
    public let index: UInt32
    /// For writes: the value written.
    public let data: UInt64
    /// Why it exited (`KVM_MSR_EXIT_REASON_*`).
    public let reason: KVMMSRExitReasons
}

/// `KVM_EXIT_INTERNAL_ERROR`, with its suberror and data.
public struct InternalError: Sendable, Hashable, CustomStringConvertible {
    public let suberror: KVMInternalErrorSuberror
    /// `data[0..<ndata]`.
    public let data: [UInt64]
    /// For emulation failures that report them: the bytes of the instruction KVM could not emulate.
    public let instructionBytes: [UInt8]

    public var description: String {
        var text = "internal error \(suberror)"
        if !data.isEmpty { text += ", data " + data.map { "0x" + String($0, radix: 16) }.joined(separator: " ") }
        if !instructionBytes.isEmpty {
            text += ", instruction " + instructionBytes.map { String($0, radix: 16) }.joined(separator: " ")
        }
        return text
    }
}

/// `KVM_EXIT_SYSTEM_EVENT`.
public struct SystemEvent: Sendable, Hashable {
    public let type: KVMSystemEventType
    /// `data[0..<ndata]` (older kernels: `flags` alone).
    public let data: [UInt64]
}
