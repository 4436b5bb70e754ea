// The user-mode `syscall` fix-up for hosts whose KVM runs guest CPL3 natively and emulates CPL0 (PVM
// without VMX/SVM): there a user-mode `syscall` arrives at LSTAR with RCX, R11 and the masked RFLAGS
// right but CS still at CPL3, so the fetch of the kernel's entry page raises #PF (error code 0x14/0x15)
// through the guest's IDT. A hardware breakpoint on LSTAR never fires (the fetch fault wins), so the
// breakpoint goes on the guest's #PF handler instead, where the CPU has just pushed the fault's frame:
//
// - frame RIP == LSTAR (or CSTAR, for 32-bit code), frame CS RPL 3, error code 0x14/0x15 and RFLAGS masked as SFMASK says: it was a
//   `syscall`. Finish it as the CPU should have: RIP = LSTAR, RSP and RFLAGS from the frame (RF clear),
//   CS = STAR[47:32] (flat 64-bit code, DPL 0), SS = CS + 8 (flat data, DPL 0). RCX and R11 are already
//   right. The pushed frame is abandoned (syscall leaves no frame).
// - anything else is a genuine page fault: step over the handler's first instruction with the
//   breakpoints off (this host ignores RFLAGS.RF, so resuming on the breakpoint would hit it again),
//   then put them back.
//
// A second breakpoint on the #UD handler catches a user-mode `int n`, which this host delivers as #UD,
// and every port-I/O exit is checked for user mode without permission (this host exits instead of
// raising #GP): both end in a ``HostDefect`` the VMM reports.
//
// The handlers are re-derived from IDTR and the gates (a guest such as Linux replaces its early IDT
// during boot): at every debug exit, and at other exits at most once per `checkInterval`, when the VMM
// is in user space anyway. Breakpoints are armed lazily: nothing is armed until the guest has a present
// gate 14.

import Glibc
import KVM
import KVMBindings
import X86Setup

/// Repairs, on one vCPU, user-mode `syscall` on hosts where it arrives in kernel code still at CPL3,
/// and reports the user-mode instructions such hosts deliver wrongly (``HostDefect``).
///
/// Create one per vCPU, on the vCPU's thread, only when ``EmulatorProbe/Result/needsUserModeFixup`` is
/// true (never on hardware virtualization), and pass it every exit before handling the exit yourself:
///
/// ```swift
/// let fixup = probe.needsUserModeFixup ? UserModeFixup(vcpu: vcpu, memory: vm.memory) : nil
/// while true {
///     let exit = try vcpu.run()
///     switch try fixup?.handle(exit) ?? .notHandled {
///     case .resumed: continue
///     case .hostDefect(let defect): fatal("\(defect)")
///     case .notHandled: break
///     }
///     // ... the VMM's own exit handling
/// }
/// ```
///
/// It uses `KVM_SET_GUEST_DEBUG` hardware breakpoints, so the guest's own debug registers do not work
/// while it is active. Not Sendable: it belongs to the vCPU's thread.
public final class UserModeFixup {
    /// What ``handle(_:)`` did with an exit.
    public enum Handling: Equatable, Sendable {
        /// Not an exit for the fix-up (or nothing to do): handle it as usual.
        case notHandled
        /// The fix-up consumed the exit: run the vCPU again.
        case resumed
        /// The guest did something this host delivers wrongly; report it and stop the guest.
        case hostDefect(HostDefect)
    }

    /// Counts of what the fix-up did on this vCPU.
    public struct Statistics: Equatable, Sendable {
        /// User-mode `syscall`s completed into the kernel's entry.
        public var syscallsCompleted = 0
        /// Genuine page faults passed on to the guest's handler (each costs a breakpoint and a step exit).
        public var pageFaultsPassedOn = 0
        /// Genuine #UD passed on to the guest's handler.
        public var invalidOpcodesPassedOn = 0
        /// Times the IDT was read to re-derive the handlers.
        public var handlerChecks = 0
        /// Times the breakpoints were set (the handlers changed).
        public var breakpointUpdates = 0

        public init() {}
    }

    public let vcpu: VCPU
    public let memory: GuestMemory
    /// The longest time between two reads of the guest's IDT at exits other than the fix-up's own
    /// (seconds). Smaller notices a new #PF handler sooner; each check costs `KVM_GET_SREGS` and two
    /// translations.
    public var checkInterval: Double = 0.001
    public private(set) var statistics = Statistics()
    /// Called with the registers at each completed `syscall` (RAX: its number; RDI, RSI, RDX, R10, R8,
    /// R9: its arguments), e.g. to trace a guest's system calls.
    public var onSyscall: ((KVMRegs) -> Void)?

    /// The #PF and #UD handler entries the breakpoints are on (nil: none).
    public private(set) var pageFaultHandler: UInt64?
    public private(set) var invalidOpcodeHandler: UInt64?
    /// LSTAR, CSTAR, STAR and SFMASK as last read (at each handler check, and whenever a frame's RIP differs).
    private var syscallMSRs: (lstar: UInt64, cstar: UInt64, star: UInt64, mask: UInt64)?
    private var armed = false
    private var stepping = false
    private var lastCheck = -Double.infinity

    public init(vcpu: VCPU, memory: GuestMemory) {
        self.vcpu = vcpu
        self.memory = memory
    }

    /// Reads the guest's IDT now and (re)arms the breakpoints on its #PF and #UD handlers. ``handle(_:)``
    /// does this by itself; call it when the guest's IDT was set up before its first run.
    public func refresh() throws(KVMRuntimeError) {
        try refresh(special: try vcpu.specialRegisters())
    }

    /// Looks at `exit` before the VMM does; see ``Handling``.
    public func handle(_ exit: VCPUExit) throws(KVMRuntimeError) -> Handling {
        switch exit {
        case .debug(let debug):
            return try debugExit(debug)
        case .io(let io):
            let special = try vcpu.specialRegisters()
            if Self.now() - lastCheck >= checkInterval { try refresh(special: special) }
            guard special.cs.selector & 3 != 0 else { return .notHandled }
            return try userPortIO(io, special: special)
        case .interrupted, .stopped:
            return .notHandled
        default:
            if Self.now() - lastCheck >= checkInterval { try refresh() }
            return .notHandled
        }
    }

    // MARK: Handlers and breakpoints

    /// Re-derives the handlers; true if it set the breakpoints (they changed).
    @discardableResult
    private func refresh(special: KVMSRegs) throws(KVMRuntimeError) -> Bool {
        lastCheck = Self.now()
        statistics.handlerChecks += 1
        if special.efer & ExtendedFeatureEnable.systemCallExtensions.rawValue != 0 { try readSyscallMSRs() }
        var pageFault: UInt64?
        var invalidOpcode: UInt64?
        if special.efer & ExtendedFeatureEnable.longModeActive.rawValue != 0 {
            let guest = GuestVirtualMemory(vcpu: vcpu, memory: memory, special: special)
            pageFault = guest.gate(vector: 14).flatMap { $0.isPresentInterruptOrTrapGate ? $0.offset : nil }
            invalidOpcode = guest.gate(vector: 6).flatMap { $0.isPresentInterruptOrTrapGate ? $0.offset : nil }
        }
        guard pageFault != pageFaultHandler || invalidOpcode != invalidOpcodeHandler || (!armed && pageFault != nil) else { return false }
        pageFaultHandler = pageFault
        invalidOpcodeHandler = invalidOpcode
        guard !stepping else { return false }
        try arm()
        return true
    }

    private func readSyscallMSRs() throws(KVMRuntimeError) {
        let msrs = try vcpu.msrs([ModelSpecificRegister.lstar.rawValue, ModelSpecificRegister.cstar.rawValue, ModelSpecificRegister.star.rawValue, ModelSpecificRegister.syscallFlagMask.rawValue])
        syscallMSRs = msrs.count == 4 ? (msrs[0].data, msrs[1].data, msrs[2].data, msrs[3].data) : nil
    }

    private func arm() throws(KVMRuntimeError) {
        let addresses = [pageFaultHandler, invalidOpcodeHandler].compactMap { $0 }
        try vcpu.setGuestDebug([], hardwareBreakpoints: addresses)
        armed = !addresses.isEmpty
        statistics.breakpointUpdates += 1
    }

    /// Steps one instruction with the breakpoints off (then ``debugExit`` re-arms them).
    private func stepOver() throws(KVMRuntimeError) -> Handling {
        stepping = true
        do {
            try vcpu.setGuestDebug([.singlestep, .blockirq])
        } catch {
            try vcpu.setGuestDebug([.singlestep])  // a KVM without KVM_GUESTDBG_BLOCKIRQ
        }
        return .resumed
    }

    private func debugExit(_ debug: KVMDebugExitArch) throws(KVMRuntimeError) -> Handling {
        if stepping {
            stepping = false
            if try !refresh(special: try vcpu.specialRegisters()) { try arm() }
            return .resumed
        }
        guard debug.pc == pageFaultHandler || debug.pc == invalidOpcodeHandler else { return .notHandled }
        var registers = try vcpu.registers()
        var special = try vcpu.specialRegisters()
        let guest = GuestVirtualMemory(vcpu: vcpu, memory: memory, special: special)
        if debug.pc == pageFaultHandler {
            // error code, RIP, CS, RFLAGS, RSP, SS: pushed at the handler's stack before its first instruction.
            guard let frame = guest.words(registers.rsp, count: 6) else { return try passOn(pageFault: true) }
            let (errorCode, rip, cs, flags, rsp) = (frame[0], frame[1], frame[2], frame[3], frame[4])
            // A user-mode instruction fetch (0x14/0x15 with EFER.NXE, 0x04/0x05 without): U set, W and RSVD clear.
            guard cs & 3 == 3, errorCode & ~0x11 == 0x4 else { return try passOn(pageFault: true) }
            // LSTAR: `syscall` from 64-bit code; CSTAR: from compatibility-mode (32-bit) code.
            if syscallMSRs?.lstar != rip && syscallMSRs?.cstar != rip { try readSyscallMSRs() }
            guard let msrs = syscallMSRs, rip == msrs.lstar || rip == msrs.cstar,
                Self.isSyscallEntry(flags: flags, r11: registers.r11, mask: msrs.mask)
            else {
                return try passOn(pageFault: true)
            }
            let kernelCode = UInt16(truncatingIfNeeded: msrs.star >> 32) & ~3
            registers.rip = rip
            registers.rsp = rsp
            registers.rflags = flags & ~FlagsRegister.resume.rawValue
            special.cs = SegmentDescriptor.flatCode64().segment(selector: kernelCode)
            special.ss = SegmentDescriptor.flatData().segment(selector: kernelCode &+ 8)
            try vcpu.setSpecialRegisters(special)
            try vcpu.setRegisters(registers)
            statistics.syscallsCompleted += 1
            onSyscall?(registers)
            return .resumed
        }
        // #UD: RIP, CS, RFLAGS, RSP, SS (no error code).
        guard let frame = guest.words(registers.rsp, count: 2), frame[1] & 3 == 3 else { return try passOn(pageFault: false) }
        let instruction = guest.read(frame[0], count: 2)
        if instruction.count == 2, instruction[0] == 0xCD {
            return .hostDefect(.userSoftwareInterrupt(
                vector: instruction[1], rip: frame[0], mode: mode(ofCodeSelector: UInt16(truncatingIfNeeded: frame[1]), guest: guest)))
        }
        return try passOn(pageFault: false)
    }

    private func passOn(pageFault: Bool) throws(KVMRuntimeError) -> Handling {
        if pageFault { statistics.pageFaultsPassedOn += 1 } else { statistics.invalidOpcodesPassedOn += 1 }
        return try stepOver()
    }

    /// Whether a CPL3 #PF frame at LSTAR is the work of `syscall` and not of a user jump to LSTAR:
    /// `syscall` clears the SFMASK bits (Linux masks IF, which user code cannot clear at IOPL 0) and
    /// keeps the others as saved in R11.
    public static func isSyscallEntry(flags: UInt64, r11: UInt64, mask: UInt64) -> Bool {
        let ignored = FlagsRegister([.resume, .virtual8086Mode]).rawValue
        return flags & mask & ~ignored == 0 && flags & ~(mask | ignored) == r11 & ~(mask | ignored)
    }

    // MARK: User port I/O

    private func userPortIO(_ io: PortIO, special: KVMSRegs) throws(KVMRuntimeError) -> Handling {
        let registers = try vcpu.registers()
        let cpl = Int(special.cs.selector & 3)
        let iopl = Int((registers.rflags >> 12) & 3)
        guard cpl > iopl else { return .notHandled }
        let guest = GuestVirtualMemory(vcpu: vcpu, memory: memory, special: special)
        if ioBitmapAllows(port: io.port, size: io.size, special: special, guest: guest) { return .notHandled }
        return .hostDefect(.userPortIOWithoutPermission(
            port: io.port, direction: io.direction, size: io.size, rip: registers.rip, iopl: iopl,
            mode: mode(ofCodeSelector: special.cs.selector, long: special.cs.l == 1, guest: guest)))
    }

    /// The TSS I/O permission bitmap check (Intel SDM vol. 1 §19.5.2): every bit for the accessed ports
    /// must be clear, and inside the TSS limit.
    private func ioBitmapAllows(port: UInt16, size: Int, special: KVMSRegs, guest: GuestVirtualMemory) -> Bool {
        guard special.tr.limit >= 103,
            let base = LittleEndianReader(guest.read(special.tr.base &+ 102, count: 2)).read(UInt16.self, at: 0)
        else { return false }
        let first = UInt64(base) + UInt64(port) / 8
        guard first + 1 <= UInt64(special.tr.limit) else { return false }
        guard let bits = LittleEndianReader(guest.read(special.tr.base &+ first, count: 2)).read(UInt16.self, at: 0) else { return false }
        let mask = UInt16((1 << size) - 1) << (port % 8)
        return bits & mask == 0
    }

    private func mode(ofCodeSelector selector: UInt16, long: Bool? = nil, guest: GuestVirtualMemory) -> String {
        var isLong = long
        if isLong == nil, let descriptor = guest.descriptor(selector: selector) { isLong = descriptor.long }
        let cpl = selector & 3
        switch isLong {
        case true?: return "64-bit user mode (CPL\(cpl))"
        case false?: return "compatibility-mode user code (CPL\(cpl))"
        case nil: return "user mode (CPL\(cpl))"
        }
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
