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
    let runPage: UnsafeMutableRawPointer
    let runSize: Int
    /// Stops `run()` from another thread; see `VCPUStopper` for the protocol.
    public let stopper: VCPUStopper
    private var preparedThread: pthread_t?

    /// The vCPU fd, for ioctls this type does not wrap.
    public var fileDescriptor: KVMVCPUFD { owned.typed }

    init(vm: VirtualMachine, id: UInt, fileDescriptor: KVMVCPUFD, signal: KickSignal = .default) throws(KVMRuntimeError) {
        self.vm = vm
        self.id = id
        owned = OwnedFileDescriptor(fileDescriptor)
        runSize = vm.system.vcpuMmapSize
        guard runSize >= MemoryLayout<KVMRun>.size else {
            throw .system(KVMError(operation: "KVM_GET_VCPU_MMAP_SIZE", errno: .invalidArgument))
        }
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
            throw .system(error)
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
    public func run() throws(KVMRuntimeError) -> VCPUExit {
        let thread = try prepareThreadForStops()
        stopper.attach(thread)
        defer { stopper.detach() }
        if stopper.takeRequest() { return .stopped }
        do {
            try fileDescriptor.run()
        } catch {
            guard error.errno == .interrupted || error.errno == .resourceTemporarilyUnavailable else {
                throw KVMRuntimeError(error)
            }
            if stopper.takeRequest() { return .stopped }
            stopper.drainPendingSignal()
            return .interrupted
        }
        return decodeExit()
    }

    /// The first time `run()` is called on a thread: block the kick signal there and let KVM unblock it
    /// only inside `KVM_RUN` (`KVM_SET_SIGNAL_MASK`).
    private func prepareThreadForStops() throws(KVMRuntimeError) -> pthread_t {
        let current = pthread_self()
        if let preparedThread, pthread_equal(preparedThread, current) != 0 { return current }
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
        preparedThread = current
        return current
    }

    // MARK: Exits

    /// The `kvm_run` page as the kernel left it after the last exit (a copy).
    public var runState: KVMRun {
        // SAFETY: the mapping is at least MemoryLayout<KVMRun>.size bytes (checked in init), page-aligned,
        // and only this thread touches it while it is not inside KVM_RUN.
        runPage.load(as: KVMRun.self)
    }

    static let exitOffset = MemoryLayout<KVMRun>.offset(of: \KVMRun.exit) ?? 32

    /// Reads the member of the exit union that `T` mirrors.
    @inline(__always)
    private func exitData<T: BitwiseCopyable>(_: T.Type) -> T {
        // SAFETY: the exit union lies inside the mapping at a fixed offset; every member type fits in its
        // 256 bytes; loads are unaligned-safe.
        runPage.loadUnaligned(fromByteOffset: Self.exitOffset, as: T.self)
    }

    private func decodeExit() -> VCPUExit {
        // SAFETY: exit_reason is a u32 at its C offset inside the mapping.
        let reason = KVMExitReason(rawValue: runPage.load(fromByteOffset: MemoryLayout<KVMRun>.offset(of: \.exitReason)!, as: UInt32.self))
        switch reason {
        case .io:
            let io = exitData(KVMRun.Exit.IO.self)
            let direction: PortIO.Direction = io.direction == KVMExitIODirection.out.rawValue ? .out : .in
            var value: UInt32 = 0
            if direction == .out, let range = ioDataRange(io), range.count >= Int(io.size) {
                for index in 0..<min(Int(io.size), 4) {
                    // SAFETY: `range` is inside the mapping (checked by ioDataRange).
                    value |= UInt32(runPage.load(fromByteOffset: range.lowerBound + index, as: UInt8.self)) << (8 * index)
                }
            }
            return .io(PortIO(direction: direction, port: io.port, size: Int(io.size), count: Int(io.count), value: value))
        case .mmio:
            let mmio = exitData(KVMRun.Exit.MMIO.self)
            let length = min(Int(mmio.len), 8)
            var value: UInt64 = 0
            if mmio.isWrite != 0 {
                for index in 0..<length { value |= UInt64(mmio.data[index]) << (8 * index) }
            }
            return .mmio(MMIOAccess(address: mmio.physAddr, length: length, isWrite: mmio.isWrite != 0, value: value))
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
            return .memoryFault(flags: fault.flags, address: fault.gpa, size: fault.size)
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
        let length = Int(io.size).multipliedReportingOverflow(by: Int(io.count))
        guard !length.overflow, io.dataOffset <= UInt64(runSize), length.partialValue <= runSize - Int(io.dataOffset)
        else { return nil }
        return Int(io.dataOffset)..<(Int(io.dataOffset) + length.partialValue)
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
        runPage.storeBytes(of: mmio, toByteOffset: Self.exitOffset, as: KVMRun.Exit.MMIO.self)
    }

    /// Answers a hypercall exit with the value `rax` gets.
    public func completeHypercall(returning value: UInt64) {
        var call = exitData(KVMRun.Exit.Hypercall.self)
        call.ret = value
        // SAFETY: as in completeMMIORead.
        runPage.storeBytes(of: call, toByteOffset: Self.exitOffset, as: KVMRun.Exit.Hypercall.self)
    }

    /// Answers `KVM_EXIT_X86_RDMSR`: the value read, or `fault: true` to inject #GP.
    public func completeMSRRead(_ value: UInt64, fault: Bool = false) {
        var msr = exitData(KVMRun.Exit.MSR.self)
        msr.data = value
        msr.error = fault ? 1 : 0
        // SAFETY: as in completeMMIORead.
        runPage.storeBytes(of: msr, toByteOffset: Self.exitOffset, as: KVMRun.Exit.MSR.self)
    }

    /// Answers `KVM_EXIT_X86_WRMSR`: `fault: true` injects #GP.
    public func completeMSRWrite(fault: Bool = false) {
        completeMSRRead(exitData(KVMRun.Exit.MSR.self).data, fault: fault)
    }
}
