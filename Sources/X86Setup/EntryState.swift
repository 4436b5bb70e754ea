#if arch(x86_64)
import KVMBindings

/// A segment register's value: the selector and the descriptor it was loaded from.
public struct LoadedSegment: Hashable, Sendable {
    public var selector: UInt16
    public var descriptor: SegmentDescriptor

    public init(selector: UInt16, descriptor: SegmentDescriptor) {
        self.selector = selector
        self.descriptor = descriptor
    }

    /// As `struct kvm_segment`.
    public var kvmSegment: KVMSegment { descriptor.segment(selector: selector) }
}

/// TR's value: the selector and the (busy) TSS descriptor.
public struct LoadedTaskState: Hashable, Sendable {
    public var selector: UInt16
    public var descriptor: SystemSegmentDescriptor

    public init(selector: UInt16, descriptor: SystemSegmentDescriptor) {
        self.selector = selector
        self.descriptor = descriptor
    }

    /// As `struct kvm_segment`, in its busy form (what `ltr` leaves, and what VMX requires).
    public var kvmSegment: KVMSegment { descriptor.busy.segment(selector: selector) }
}

/// The special registers a vCPU starts a guest with, as KVM_SET_SREGS loads them directly: the
/// state a real CPU reaches only by executing its way up from real mode.
///
/// ```swift
/// let entry = EntryState.longMode(cr3: cr3, gdt: gdt.register(base: 0x500), code: code, data: data)
/// try vcpu.setSpecialRegisters(entry.applied(to: try vcpu.specialRegisters()))
/// try vcpu.setRegisters(EntryState.registers(rip: kernelEntry, rsp: stackTop) { $0.rsi = zeroPage })
/// ```
///
/// Long mode needs the guest's CPUID to report long mode (KVM refuses EFER.LME otherwise): set
/// CPUID (e.g. ``CPUIDPolicy``) before the special registers.
public struct EntryState: Hashable, Sendable {
    public var cr0: ControlRegister0
    public var cr3: UInt64
    public var cr4: ControlRegister4
    public var efer: ExtendedFeatureEnable
    public var gdt: DescriptorTableRegister
    public var idt: DescriptorTableRegister
    /// CS.
    public var code: LoadedSegment
    /// DS, ES, FS, GS and SS.
    public var data: LoadedSegment
    /// TR; nil leaves the vCPU's TR as it is.
    public var taskState: LoadedTaskState?

    public init(
        cr0: ControlRegister0, cr3: UInt64, cr4: ControlRegister4, efer: ExtendedFeatureEnable,
        gdt: DescriptorTableRegister, idt: DescriptorTableRegister, code: LoadedSegment, data: LoadedSegment,
        taskState: LoadedTaskState?
    ) {
        self.cr0 = cr0
        self.cr3 = cr3
        self.cr4 = cr4
        self.efer = efer
        self.gdt = gdt
        self.idt = idt
        self.code = code
        self.data = data
        self.taskState = taskState
    }

    /// 64-bit mode: CR0.PE|ET|PG (plus `extraCR0`), CR4.PAE, EFER.LME|LMA, CR3 = `cr3`; CS a 64-bit
    /// code segment. The IDT defaults to empty (limit 0): the guest installs its own.
    public static func longMode(
        cr3: UInt64, gdt: DescriptorTableRegister, idt: DescriptorTableRegister = DescriptorTableRegister(base: 0, limit: 0),
        code: LoadedSegment, data: LoadedSegment, taskState: LoadedTaskState? = nil,
        extraCR0: ControlRegister0 = [], extraCR4: ControlRegister4 = []
    ) -> EntryState {
        EntryState(
            cr0: [.protectionEnable, .extensionType, .paging, extraCR0], cr3: cr3, cr4: [.physicalAddressExtension, extraCR4],
            efer: [.longModeEnable, .longModeActive], gdt: gdt, idt: idt, code: code, data: data, taskState: taskState)
    }

    /// 32-bit flat protected mode with paging off (the PVH and multiboot entry state): CR0.PE|ET,
    /// CR3, CR4 and EFER zero; CS a 32-bit code segment.
    public static func protectedMode32(
        gdt: DescriptorTableRegister, idt: DescriptorTableRegister = DescriptorTableRegister(base: 0, limit: 0),
        code: LoadedSegment, data: LoadedSegment, taskState: LoadedTaskState? = nil
    ) -> EntryState {
        EntryState(
            cr0: [.protectionEnable, .extensionType], cr3: 0, cr4: [], efer: [], gdt: gdt, idt: idt, code: code, data: data,
            taskState: taskState)
    }

    /// `special` (the vCPU's current KVM_GET_SREGS, which keeps the fields this does not set, such as
    /// the APIC base) with this state's control registers, descriptor tables and segments.
    public func applied(to special: KVMSRegs) -> KVMSRegs {
        var special = special
        special.cr0 = cr0.rawValue
        special.cr3 = cr3
        special.cr4 = cr4.rawValue
        special.efer = efer.rawValue
        special.gdt = gdt.kvmDescriptorTable
        special.idt = idt.kvmDescriptorTable
        special.cs = code.kvmSegment
        let data = data.kvmSegment
        special.ds = data
        special.es = data
        special.fs = data
        special.gs = data
        special.ss = data
        if let taskState { special.tr = taskState.kvmSegment }
        return special
    }

    /// General registers for an entry: RIP, RSP (and RBP), RFLAGS = 2 (bit 1 is reserved-set;
    /// interrupts off); `configure` sets the entry's arguments (RSI = zero page for Linux's 64-bit
    /// boot protocol, EBX = `hvm_start_info` for PVH, EAX = 0x2BADB002 and EBX = the info block
    /// for multiboot).
    public static func registers(rip: UInt64, rsp: UInt64 = 0, configure: (inout KVMRegs) -> Void = { _ in }) -> KVMRegs {
        var registers = KVMRegs()
        registers.rip = rip
        registers.rsp = rsp
        registers.rbp = rsp
        registers.rflags = 0x2
        configure(&registers)
        return registers
    }
}
#endif
