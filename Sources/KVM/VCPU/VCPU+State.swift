import KVMBindings

/// Architecture-independent vCPU state.
extension VCPU {
    /// `KVM_GET_MP_STATE` (needs `KVM_CAP_MP_STATE`).
    public func mpState() throws(KVMRuntimeError) -> KVMMultiprocessingState {
        KVMMultiprocessingState(rawValue: try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getMPState() }.mpState)
    }

    /// `KVM_SET_MP_STATE` (needs `KVM_CAP_MP_STATE`).
    public func setMPState(_ state: KVMMultiprocessingState) throws(KVMRuntimeError) {
        var value = KVMMPState()
        value.mpState = state.rawValue
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setMPState(value) }
    }

    /// `KVM_ENABLE_CAP` on the vCPU.
    @discardableResult
    public func enableCapability(_ capability: KVMCapability, flags: UInt32 = 0, arguments: [UInt64] = [])
        throws(KVMRuntimeError) -> Int
    {
        let request = KVMEnableCap(capability, flags: flags, arguments: arguments)
        return Int(try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.enableCap(request) })
    }
}

#if arch(x86_64)
/// x86 register and CPU state: each pair issues the named `KVM_GET_*` / `KVM_SET_*` ioctl.
extension VCPU {
    /// `KVM_GET_REGS`: general-purpose registers, RIP and RFLAGS.
    public func registers() throws(KVMRuntimeError) -> KVMRegs {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getRegs() }
    }

    /// `KVM_SET_REGS`.
    public func setRegisters(_ registers: KVMRegs) throws(KVMRuntimeError) {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setRegs(registers) }
    }

    /// `KVM_GET_SREGS`: segment, control and descriptor-table registers, EFER, APIC base.
    public func specialRegisters() throws(KVMRuntimeError) -> KVMSRegs {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getSRegs() }
    }

    /// `KVM_SET_SREGS`.
    public func setSpecialRegisters(_ registers: KVMSRegs) throws(KVMRuntimeError) {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setSRegs(registers) }
    }

    /// `KVM_GET_FPU`: x87/SSE state.
    public func fpu() throws(KVMRuntimeError) -> KVMFPU {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getFPU() }
    }

    /// `KVM_SET_FPU`.
    public func setFPU(_ fpu: KVMFPU) throws(KVMRuntimeError) {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setFPU(fpu) }
    }

    /// `KVM_GET_MSRS`: the values of the MSRs at `indices` (those KVM knows; see `KVMSystem.msrIndexList`).
    public func msrs(_ indices: [UInt32]) throws(KVMRuntimeError) -> [KVMMSREntry] {
        var list = MSRList(indices: indices)
        let count = try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getMSRs(&list.buffer) }
        return Array(list.buffer.elements.prefix(Int(count)))
    }

    /// `KVM_SET_MSRS`: sets every entry, failing on the first MSR the kernel rejects.
    public func setMSRs(_ entries: [KVMMSREntry]) throws(KVMRuntimeError) {
        let list = MSRList(entries: entries)
        let count = try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setMSRs(list.buffer) }
        guard Int(count) == entries.count else {
            guard count >= 0, Int(count) < entries.count else {
                throw .unexpectedResult(operation: "KVM_SET_MSRS", reason: "set \(count) of \(entries.count) MSRs")
            }
            throw .rejectedMSR(index: entries[Int(count)].index)
        }
    }

    /// `KVM_SET_CPUID2`: what CPUID reports to the guest.
    public func setCPUID(_ entries: CPUIDEntries) throws(KVMRuntimeError) {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setCPUID2(entries.buffer) }
    }

    /// `KVM_GET_CPUID2`: the CPUID leaves set on this vCPU.
    public func cpuid() throws(KVMRuntimeError) -> CPUIDEntries {
        try CPUIDEntries.fetch(name: "KVM_GET_CPUID2") { (buffer) throws(KVMIoctlError) in
            try fileDescriptor.getCPUID2(&buffer)
        }
    }

    /// `KVM_GET_LAPIC` (in-kernel irqchip): the local APIC's register page.
    public func lapic() throws(KVMRuntimeError) -> KVMLAPICState {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getLAPIC() }
    }

    /// `KVM_SET_LAPIC`.
    public func setLAPIC(_ state: KVMLAPICState) throws(KVMRuntimeError) {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setLAPIC(state) }
    }

    /// `KVM_GET_VCPU_EVENTS` (needs `KVM_CAP_VCPU_EVENTS`): pending exceptions, interrupts, NMIs, SMIs.
    public func events() throws(KVMRuntimeError) -> KVMVCPUEvents {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getVCPUEvents() }
    }

    /// `KVM_SET_VCPU_EVENTS`: e.g. inject an exception (set `exception.injected`, `flags`).
    public func setEvents(_ events: KVMVCPUEvents) throws(KVMRuntimeError) {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setVCPUEvents(events) }
    }

    /// `KVM_GET_XCRS` (needs `KVM_CAP_XCRS`).
    public func xcrs() throws(KVMRuntimeError) -> KVMXCRs {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getXCRs() }
    }

    /// `KVM_SET_XCRS` (needs `KVM_CAP_XCRS`).
    public func setXCRs(_ xcrs: KVMXCRs) throws(KVMRuntimeError) {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setXCRs(xcrs) }
    }

    /// `KVM_GET_DEBUGREGS` (needs `KVM_CAP_DEBUGREGS`).
    public func debugRegisters() throws(KVMRuntimeError) -> KVMDebugregs {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getDebugregs() }
    }

    /// `KVM_SET_DEBUGREGS`.
    public func setDebugRegisters(_ registers: KVMDebugregs) throws(KVMRuntimeError) {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setDebugregs(registers) }
    }

    /// `KVM_SET_GUEST_DEBUG` (needs `KVM_CAP_SET_GUEST_DEBUG`): single-stepping and hardware breakpoints
    /// (up to 4 addresses, in DR0-DR3). `.enable` is added to `flags` unless `flags` is empty.
    public func setGuestDebug(_ flags: KVMGuestDebugFlags, hardwareBreakpoints: [UInt64] = []) throws(KVMRuntimeError) {
        var debug = KVMGuestDebug()
        var control = flags
        if !hardwareBreakpoints.isEmpty { control.insert(.useHWBP) }
        if !control.isEmpty { control.insert(.enable) }
        debug.control = control.rawValue
        var dr7: UInt64 = 0
        for (index, address) in hardwareBreakpoints.prefix(4).enumerated() {
            debug.arch.debugreg[index] = address
            dr7 |= 1 << UInt64(index * 2 + 1)  // global enable, execute breakpoint, length 1
        }
        debug.arch.debugreg[7] = dr7
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setGuestDebug(debug) }
    }

    /// `KVM_GET_TSC_KHZ` (needs `KVM_CAP_GET_TSC_KHZ`).
    public func tscFrequency() throws(KVMRuntimeError) -> Int {
        Int(try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getTSCKHz() })
    }

    /// `KVM_SET_TSC_KHZ` (needs `KVM_CAP_TSC_CONTROL`).
    public func setTSCFrequency(kilohertz: UInt) throws(KVMRuntimeError) {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setTSCKHz(kilohertz) }
    }

    /// `KVM_NMI`: injects a non-maskable interrupt (in-kernel LAPIC).
    public func injectNMI() throws(KVMRuntimeError) {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.nmi() }
    }

    /// `KVM_INTERRUPT`: queues an external interrupt (only without the in-kernel irqchip).
    public func injectInterrupt(_ vector: UInt32) throws(KVMRuntimeError) {
        var interrupt = KVMInterrupt()
        interrupt.irq = vector
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.interrupt(interrupt) }
    }


}
#endif
