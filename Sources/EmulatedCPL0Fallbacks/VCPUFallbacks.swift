// The product's run-loop glue: what a VMM's vCPU loop calls on every exit, so that it handles the
// fallbacks in one place: the user-mode syscall fix-up (where the probe found it needed) and the kernel
// instructions KVM's emulator cannot run (int3, fwait, ldmxcsr, stmxcsr).

import KVM

/// One vCPU's fallbacks. Create it on the vCPU's thread and call ``handle(_:)`` with each exit
/// before the VMM's own handling.
///
/// ```swift
/// let fallbacks = VCPUFallbacks(vcpu: vcpu, memory: vm.memory, userModeFixup: probe.needsUserModeFixup)
/// while true {
///     let exit = try vcpu.run()
///     switch fallbacks.handle(exit) {
///     case .resumed: continue
///     case .failed(let reason): fatal(reason)
///     case .notHandled: break
///     }
///     // ... the VMM's own exits
/// }
/// ```
public final class VCPUFallbacks {
    public enum Handling: Equatable, Sendable {
        /// Not a fallback's exit: the VMM handles it.
        case notHandled
        /// Handled: run the vCPU again.
        case resumed
        /// The guest cannot continue correctly (a ``HostDefect``, an undeliverable int3, a failed ioctl).
        case failed(String)
    }

    /// What the fallbacks did.
    public struct Statistics: Equatable, Sendable {
        /// Kernel int3s delivered through the guest's IDT.
        public var int3Delivered = 0
        /// fwait, ldmxcsr and stmxcsr completed by the VMM.
        public var instructionsCompleted = 0
        /// The user-mode fix-up's statistics (zero without it).
        public var userModeFixup = UserModeFixup.Statistics()

        public init() {}

        /// Sums `other` into these (for a machine-wide total).
        public mutating func add(_ other: Statistics) {
            int3Delivered += other.int3Delivered
            instructionsCompleted += other.instructionsCompleted
            userModeFixup.syscallsCompleted += other.userModeFixup.syscallsCompleted
            userModeFixup.pageFaultsPassedOn += other.userModeFixup.pageFaultsPassedOn
            userModeFixup.invalidOpcodesPassedOn += other.userModeFixup.invalidOpcodesPassedOn
            userModeFixup.handlerChecks += other.userModeFixup.handlerChecks
            userModeFixup.breakpointUpdates += other.userModeFixup.breakpointUpdates
        }
    }

    public let vcpu: VCPU
    public let memory: GuestMemory
    /// Only where ``EmulatorProbe/Result/needsUserModeFixup`` (never on VMX or SVM).
    public let userModeFixup: UserModeFixup?
    /// Complete kernel instructions KVM reports as emulation failures.
    public let kernelInstructions: Bool
    private var counts = Statistics()

    public var statistics: Statistics {
        var statistics = counts
        if let userModeFixup { statistics.userModeFixup = userModeFixup.statistics }
        return statistics
    }

    public init(vcpu: VCPU, memory: GuestMemory, userModeFixup: Bool, kernelInstructions: Bool = true) {
        self.vcpu = vcpu
        self.memory = memory
        self.userModeFixup = userModeFixup ? UserModeFixup(vcpu: vcpu, memory: memory) : nil
        self.kernelInstructions = kernelInstructions
    }

    /// Handles `exit` if it is a fallback's.
    public func handle(_ exit: VCPUExit) -> Handling {
        if let userModeFixup {
            switch Result(catching: { () throws(KVMRuntimeError) in try userModeFixup.handle(exit) }) {
            case .success(.resumed): return .resumed
            case .success(.notHandled): break
            case .success(.hostDefect(let defect)): return .failed("\(defect)")
            case .failure(let error): return .failed("user-mode fix-up: \(error)")
            }
        }
        guard kernelInstructions, case .internalError(let error) = exit else { return .notHandled }
        switch KernelInstructionFallback.complete(on: vcpu, memory: memory, instructionBytes: error.instructionBytes) {
        case .delivered:
            counts.int3Delivered += 1
            return .resumed
        case .completed:
            counts.instructionsCompleted += 1
            return .resumed
        case .undeliverable(let reason):
            return .failed("KVM could not emulate a kernel int3, and it cannot be delivered: \(reason)")
        case .notHandled:
            return .notHandled
        }
    }
}
