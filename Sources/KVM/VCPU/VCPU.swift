import CKVMShims
import Glibc
import KVMBindings
import SystemPackage

/// A vCPU (`KVM_CREATE_VCPU`) and its shared `kvm_run` page.
///
/// Not `Sendable`: a vCPU is driven by one thread at a time (create it on the thread that runs it).
/// To stop it from elsewhere, hand out its `stopper`, which is `Sendable`.
public final class VCPU {
    public let id: UInt
    /// The VM this vCPU belongs to (kept alive as long as the vCPU).
    public let vm: VirtualMachine
    let owned: OwnedFileDescriptor<KVMVCPUKind>
    /// The `kvm_run` mapping: `runSize` bytes shared with the kernel.
    @usableFromInline let runPage: UnsafeMutableRawPointer
    @usableFromInline let runSize: Int
    /// Stops `run()` from another thread; see `VCPUStopper` for the protocol.
    public let stopper: VCPUStopper
    /// The thread `run()` last prepared for stops, and its token (`ckvm_current_thread_token`). Tokens
    /// of prepared threads start at 1 and a thread without one reads 0, so `.max` means "none yet".
    @usableFromInline var preparedThread: pthread_t = 0
    @usableFromInline var preparedThreadToken: UInt64 = .max
    /// The vCPU fd's number, read on every run.
    @usableFromInline let rawFileDescriptor: CInt

    /// The vCPU fd, for ioctls this type does not wrap.
    public var fileDescriptor: KVMVCPUFD { owned.typed }

    init(vm: VirtualMachine, id: UInt, fileDescriptor: KVMVCPUFD, signal: KickSignal = .default) throws(KVMRuntimeError) {
        self.vm = vm
        self.id = id
        owned = OwnedFileDescriptor(fileDescriptor)
        rawFileDescriptor = fileDescriptor.rawValue
        runSize = vm.system.vcpuMmapSize
        guard runSize >= MemoryLayout<KVMRun>.size else {
            throw .unexpectedResult(
                operation: "KVM_GET_VCPU_MMAP_SIZE", reason: "\(runSize) bytes, less than struct kvm_run's \(MemoryLayout<KVMRun>.size)")
        }
        lastWordOffset = UInt64(runSize - 4)  // KVMRun is far larger than 4 bytes
        // SAFETY: maps the vCPU fd's `kvm_run` area as the kernel documents (shared, read-write, offset 0,
        // KVM_GET_VCPU_MMAP_SIZE bytes); the result is checked before use and unmapped in deinit.
        let address = mmap(nil, runSize, PROT_READ | PROT_WRITE, MAP_SHARED, fileDescriptor.rawValue, 0)
        guard let address, address != MAP_FAILED else {
            throw .system(KVMError.fromCurrentErrno(operation: "mmap(kvm_run)"))
        }
        runPage = address
        stopper = VCPUStopper(signal: signal)
        do {
            try signal.installHandler()
        } catch {
            munmap(runPage, runSize)
            throw error
        }
    }

    deinit {
        // SAFETY: unmaps exactly the mapping made in init; nothing refers to it after deinit.
        munmap(runPage, runSize)
    }

    // MARK: Running

    /// `KVM_RUN`: runs the guest until it exits, and returns why.
    ///
    /// - Returns: `.stopped` when `stopper.stop()` was called, `.interrupted` for other signals.
    /// - Throws: the failed ioctl (e.g. invalid guest state some kernels report as `EINVAL`).
    ///
    /// This is the hot path of every VMM, so it does only what a C loop does plus the stop handshake:
    /// one thread-token compare, two atomic stores and two loads around the ioctl, and a decode of the
    /// frequent exits (port I/O, MMIO) inline; everything else is out of line.
    ///
    /// Inlinable, so that a VMM's exit switch sees the decoded fields directly and drops what it does
    /// not read.
    @inlinable
    public func run() throws(KVMRuntimeError) -> VCPUExit {
        if _slowPath(ckvm_current_thread_token() != preparedThreadToken) {
            try prepareThreadForStops()
        }
        let stopper = self.stopper
        stopper.attach(preparedThread)
        if _slowPath(stopper.isStopRequested) { return takeStopBeforeEntry() }
        // SAFETY: KVM_RUN takes no argument; the fd is this vCPU's, open for the object's lifetime.
        let result = ckvm_ioctl(rawFileDescriptor, KVMIoctl.run.request, nil)
        if _slowPath(result < 0) { return try runFailed() }
        stopper.detach()
        // The frequent exits take a short path; the rest go through the full decoder.
        let reason = runPage.load(fromByteOffset: exitReasonOffset, as: UInt32.self)
        if reason == KVMExitReason.io.rawValue { return .io(decodePortIO()) }
        if reason == KVMExitReason.mmio.rawValue { return .mmio(decodeMMIO()) }
        return decodeExit(KVMExitReason(rawValue: reason))
    }

    /// A stop was requested before the guest was entered.
    @inline(never) @usableFromInline
    func takeStopBeforeEntry() -> VCPUExit {
        stopper.detach()
        return stopper.takeRequest() ? .stopped : .interrupted
    }

    /// `KVM_RUN` failed (still attached, `errno` untouched): a stop or another signal interrupted it
    /// (`EINTR`, or `EAGAIN` on some kernels), or the kernel refused to run (thrown).
    @inline(never) @usableFromInline
    func runFailed() throws(KVMRuntimeError) -> VCPUExit {
        let error = Errno(rawValue: errno)
        stopper.detach()
        guard error == .interrupted || error == .resourceTemporarilyUnavailable else {
            throw .system(KVMError(ioctl: KVMIoctl.run, errno: error))
        }
        if stopper.takeRequest() { return .stopped }
        stopper.drainPendingSignal()
        return .interrupted
    }

    /// The first time `run()` is called on a thread: block the kick signal there and let KVM unblock it
    /// only inside `KVM_RUN` (`KVM_SET_SIGNAL_MASK`).
    ///
    /// A `pthread_t` alone cannot say "first time": glibc reuses `pthread_t` values (a new thread may
    /// get the descriptor of an exited one), and a vCPU may move to the new thread, where the signal is
    /// not blocked. A stop landing between the request check and `KVM_RUN` would then run the no-op
    /// handler at once and be lost while the guest runs. So threads are told apart by a token that
    /// starts at 0 in every new thread and is never reused (`ckvm_assign_thread_token`).
    @inline(never) @usableFromInline
    func prepareThreadForStops() throws(KVMRuntimeError) {
        var blocked = sigset_t()
        var previous = sigset_t()
        // SAFETY: local sigset_t values initialized by sigemptyset/sigaddset; pthread_sigmask changes only
        // this thread's mask and writes the previous mask into `previous`.
        sigemptyset(&blocked)
        sigaddset(&blocked, stopper.signal.rawValue)
        let result = pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        guard result == 0 else { throw .system(KVMError(operation: "pthread_sigmask", errno: Errno(rawValue: result))) }
        var inGuest = previous
        sigdelset(&inGuest, stopper.signal.rawValue)
        // The kernel's sigset is 8 bytes on x86-64; glibc's sigset_t starts with the same bits.
        let kernelSigsetSize = 8
        var mask = KVMFlexibleArray<KVMSignalMask>(capacity: kernelSigsetSize)
        withUnsafeBytes(of: &inGuest) { bytes in
            for index in 0..<kernelSigsetSize { mask[index] = bytes[index] }
        }
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setSignalMask(mask) }
        preparedThread = pthread_self()
        preparedThreadToken = ckvm_assign_thread_token()
    }

    // MARK: Exits

    /// The `kvm_run` page as the kernel left it after the last exit (a copy).
    public var runState: KVMRun {
        // SAFETY: the mapping is at least MemoryLayout<KVMRun>.size bytes (checked in init), page-aligned,
        // and only this thread touches it while it is not inside KVM_RUN.
        runPage.load(as: KVMRun.self)
    }

    /// Offsets into `kvm_run`, computed once per vCPU (instance constants avoid a lazy-global check on
    /// every exit).
    @usableFromInline let exitOffset = MemoryLayout<KVMRun>.offset(of: \KVMRun.exit) ?? 32
    @usableFromInline let exitReasonOffset = MemoryLayout<KVMRun>.offset(of: \KVMRun.exitReason) ?? 8
    /// The largest offset at which a 4-byte load stays inside the mapping (`runSize` ≥ `KVMRun`'s size).
    @usableFromInline let lastWordOffset: UInt64

    /// Reads the member of the exit union that `T` mirrors.
    @inlinable
    func exitData<T: BitwiseCopyable>(_: T.Type) -> T {
        // SAFETY: the exit union lies inside the mapping at a fixed offset; every member type fits in its
        // 256 bytes; loads are unaligned-safe.
        runPage.loadUnaligned(fromByteOffset: exitOffset, as: T.self)
    }

    @inlinable
    func decodePortIO() -> PortIO {
        let io = exitData(KVMRun.Exit.IO.self)
        let direction: PortIO.Direction = io.direction == KVMExitIODirection.out.rawValue ? .out : .in
        var value: UInt32 = 0
        if direction == .out, io.dataOffset <= lastWordOffset {
            // SAFETY: 4 bytes at dataOffset lie inside the mapping (checked); the load is unaligned-safe.
            let word = runPage.loadUnaligned(fromByteOffset: Int(io.dataOffset), as: UInt32.self)
            switch io.size {
            case 1: value = word & 0xFF
            case 2: value = word & 0xFFFF
            default: value = word
            }
        }
        return PortIO(direction: direction, port: io.port, size: io.size, count: io.count, value: value)
    }

    @inlinable
    func decodeMMIO() -> MMIOAccess {
        let mmio = exitData(KVMRun.Exit.MMIO.self)
        let length = min(mmio.len, 8)
        var value: UInt64 = 0
        if mmio.isWrite != 0 {
            // Little-endian: the first `length` bytes of data, zero-extended.
            let word = withUnsafeBytes(of: mmio.data) { $0.loadUnaligned(as: UInt64.self) }
            value = length == 8 ? word : word & ((1 << UInt64(length * 8)) - 1)
        }
        return MMIOAccess(address: GuestAddress(mmio.physAddr), length: UInt8(length), isWrite: mmio.isWrite != 0, value: value)
    }

    @inline(never) @usableFromInline
    func decodeExit(_ reason: KVMExitReason) -> VCPUExit {
        switch reason {
        case .io: return .io(decodePortIO())
        case .mmio: return .mmio(decodeMMIO())
        case .hlt: return .halt
        case .shutdown: return .shutdown
        case .unknown: return .unknown(hardwareExitReason: exitData(KVMRun.Exit.HW.self).hardwareExitReason)
        case .exception:
            let exception = exitData(KVMRun.Exit.Ex.self)
            return .exception(vector: exception.exception, errorCode: exception.errorCode)
        case .hypercall:
            let call = exitData(KVMRun.Exit.Hypercall.self)
            return .hypercall(
                Hypercall(number: call.nr, arguments: (0..<6).map { call.args[$0] }, longMode: call.longmode != 0))
        case .debug: return .debug(exitData(KVMRun.Exit.Debug.self).arch)
        case .irqWindowOpen: return .irqWindowOpen
        case .failEntry:
            let failure = exitData(KVMRun.Exit.FailEntry.self)
            return .failEntry(hardwareEntryFailureReason: failure.hardwareEntryFailureReason, cpu: failure.cpu)
        case .intr: return .interrupted
        case .setTPR: return .setTPR
        case .tprAccess:
            let access = exitData(KVMRun.Exit.TPRAccess.self)
            return .tprAccess(rip: access.rip, isWrite: access.isWrite != 0)
        case .s390SIEIC: return .s390SIEIC(exitData(KVMRun.Exit.S390SIEIC.self))
        case .s390Reset: return .s390Reset(flags: exitData(UInt64.self))
        case .dcr: return .dcr(exitData(KVMRun.Exit.DCR.self))
        case .nmi: return .nmi
        case .internalError: return .internalError(decodeInternalError())
        case .osi: return .osi(exitData(KVMRun.Exit.OSI.self))
        case .paprHcall: return .paprHypercall(exitData(KVMRun.Exit.PAPRHcall.self))
        case .s390Ucontrol: return .s390UserControl(exitData(KVMRun.Exit.S390Ucontrol.self))
        case .watchdog: return .watchdog
        case .s390TSCH: return .s390TSCH(exitData(KVMRun.Exit.S390TSCH.self))
        case .epr: return .epr(exitData(KVMRun.Exit.EPR.self))
        case .systemEvent:
            let event = exitData(KVMRun.Exit.SystemEvent.self)
            let count = min(Int(event.ndata), 16)
            let data = count > 0 ? (0..<count).map { event.data[$0] } : [event.flags]
            return .systemEvent(SystemEvent(type: KVMSystemEventType(rawValue: event.type), data: data))
        case .s390STSI: return .s390STSI(exitData(KVMRun.Exit.S390STSI.self))
        case .ioapicEOI: return .ioapicEOI(vector: exitData(KVMRun.Exit.EOI.self).vector)
        case .hyperv: return .hyperV(exitData(KVMHyperVExit.self))
        case .armNISV: return .armNISV(exitData(KVMRun.Exit.ARMNISV.self))
        case .x86RDMSR, .x86WRMSR:
            let msr = exitData(KVMRun.Exit.MSR.self)
            let access = MSRAccess(index: msr.index, data: msr.data, reason: KVMMSRExitReasons(rawValue: UInt64(msr.reason)))
            return reason == .x86RDMSR ? .readMSR(access) : .writeMSR(access)
        case .dirtyRingFull: return .dirtyRingFull
        case .apResetHold: return .apResetHold
        case .x86BusLock: return .busLock
        case .xen: return .xen(exitData(KVMXenExit.self))
        case .riscvSBI: return .riscvSBI(exitData(KVMRun.Exit.RISCVSBI.self))
        case .riscvCSR: return .riscvCSR(exitData(KVMRun.Exit.RISCVCSR.self))
        case .notify: return .notify(flags: exitData(KVMRun.Exit.Notify.self).flags)
        case .loongarchIOCSR: return .loongArchIOCSR(exitData(KVMRun.Exit.IOCSRIO.self))
        case .memoryFault:
            let fault = exitData(KVMRun.Exit.MemoryFault.self)
            return .memoryFault(flags: fault.flags, address: GuestAddress(fault.gpa), size: fault.size)
        default: return .other(reason)
        }
    }

    private func decodeInternalError() -> InternalError {
        let report = exitData(KVMRun.Exit.Internal.self)
        let suberror = KVMInternalErrorSuberror(rawValue: report.suberror)
        let count = min(Int(report.ndata), 16)
        var bytes: [UInt8] = []
        if suberror == .emulation {
            let failure = exitData(KVMRun.Exit.EmulationFailure.self)
            let flags = failure.flags
            if flags & UInt64(KVMConstants.internalErrorEmulationFlagInstructionBytes) != 0 {
                bytes = (0..<min(Int(failure.insnSize), 15)).map { failure.insnBytes[$0] }
            }
        }
        return InternalError(suberror: suberror, data: (0..<count).map { report.data[$0] }, instructionBytes: bytes)
    }

    /// The byte range of the port I/O data inside the mapping, or nil if the kernel's offset and sizes
    /// would reach outside it.
    private func ioDataRange(_ io: KVMRun.Exit.IO) -> Range<Int>? {
        // size (u8) × count (u32) cannot overflow 64 bits; the offset is checked against the mapping first.
        let length = UInt64(io.size) * UInt64(io.count)
        guard io.dataOffset <= UInt64(runSize), length <= UInt64(runSize) - io.dataOffset else { return nil }
        return Int(io.dataOffset)..<(Int(io.dataOffset) + Int(length))
    }

    // MARK: Answering exits

    /// All bytes of the last port I/O exit's data (`size * count`), e.g. for `rep outsb`.
    public func portIOData() throws(KVMRuntimeError) -> [UInt8] {
        let io = exitData(KVMRun.Exit.IO.self)
        guard let range = ioDataRange(io) else {
            throw .guestMemory(.lengthTooLarge(requested: UInt64(io.size) &* UInt64(io.count), available: UInt64(runSize)))
        }
        // SAFETY: `range` lies inside the mapping (checked).
        return range.map { runPage.load(fromByteOffset: $0, as: UInt8.self) }
    }

    /// Answers an `in` exit: every element (`count` of them) reads `value`, truncated to the access size.
    public func completePortInput(_ value: UInt32) throws(KVMRuntimeError) {
        let io = exitData(KVMRun.Exit.IO.self)
        let size = Int(io.size)
        let bytes = (0..<Int(io.count)).flatMap { _ in (0..<size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        try completePortInput(bytes: bytes)
    }

    /// Answers an `in` exit with raw bytes (at most `size * count`).
    public func completePortInput(bytes: [UInt8]) throws(KVMRuntimeError) {
        let io = exitData(KVMRun.Exit.IO.self)
        guard let range = ioDataRange(io), bytes.count <= range.count else {
            throw .guestMemory(.lengthTooLarge(requested: UInt64(bytes.count), available: UInt64(ioDataRange(io)?.count ?? 0)))
        }
        for (index, byte) in bytes.enumerated() {
            // SAFETY: the index is inside `range`, which is inside the mapping (checked).
            runPage.storeBytes(of: byte, toByteOffset: range.lowerBound + index, as: UInt8.self)
        }
    }

    /// Answers an MMIO read: the guest reads the low `length` bytes of `value`.
    public func completeMMIORead(_ value: UInt64) {
        var mmio = exitData(KVMRun.Exit.MMIO.self)
        for index in 0..<8 { mmio.data[index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
        // SAFETY: writes the MMIO member back at its offset inside the mapping.
        runPage.storeBytes(of: mmio, toByteOffset: exitOffset, as: KVMRun.Exit.MMIO.self)
    }

    /// Answers a hypercall exit with the value `rax` gets.
    public func completeHypercall(returning value: UInt64) {
        var call = exitData(KVMRun.Exit.Hypercall.self)
        call.ret = value
        // SAFETY: as in completeMMIORead.
        runPage.storeBytes(of: call, toByteOffset: exitOffset, as: KVMRun.Exit.Hypercall.self)
    }

    /// Answers `KVM_EXIT_X86_RDMSR`: the value read, or `fault: true` to inject #GP.
    public func completeMSRRead(_ value: UInt64, fault: Bool = false) {
        var msr = exitData(KVMRun.Exit.MSR.self)
        msr.data = value
        msr.error = fault ? 1 : 0
        // SAFETY: as in completeMMIORead.
        runPage.storeBytes(of: msr, toByteOffset: exitOffset, as: KVMRun.Exit.MSR.self)
    }

    /// Answers `KVM_EXIT_X86_WRMSR`: `fault: true` injects #GP.
    public func completeMSRWrite(fault: Bool = false) {
        completeMSRRead(exitData(KVMRun.Exit.MSR.self).data, fault: fault)
    }
}
