/// The reviewed facts about ioctls that the header's macros do not say: which fds they apply to,
/// where the header's direction is wrong, which `_IO` ioctls take a value, and what the kernel's
/// return value means. Sources: the kernel's Documentation/virt/kvm/api.rst and the kernel's handlers.
enum IoctlOverrides {
    enum FileDescriptorKind: String, Codable, CaseIterable, Sendable {
        case system, vm, vcpu, device
    }

    /// What the third ioctl argument is, when the macro does not say it right.
    enum Argument: Equatable {
        /// An integer passed by value; the Swift type and argument label of the wrapper.
        case value(swiftType: String, label: String)
        /// A pointer to a structure whose type depends on a sub-command.
        case untypedPointer
        /// A pointer to this record (for `_IO` macros that in fact take one).
        case record(tag: String)
    }

    enum Result: Equatable {
        /// 0 on success; the wrapper returns nothing.
        case status
        /// A non-negative number that means something.
        case value
        /// A new file descriptor; of a KVM kind, or a plain one.
        case fileDescriptor(FileDescriptorKind?)
    }

    struct Entry {
        var fds: [FileDescriptorKind]
        var direction: Ioctl.Direction? = nil
        var directionReason: String? = nil
        var argument: Argument? = nil
        var result: Result = .status
    }

    static let writesThroughPointer = "the kernel reads the struct and writes the result through the address it holds"

    static let table: [String: Entry] = [
        // /dev/kvm
        "KVM_GET_API_VERSION": Entry(fds: [.system], result: .value),
        "KVM_CREATE_VM": Entry(fds: [.system], argument: .value(swiftType: "UInt", label: "machineType"), result: .fileDescriptor(.vm)),
        "KVM_GET_MSR_INDEX_LIST": Entry(fds: [.system]),
        "KVM_S390_ENABLE_SIE": Entry(fds: [.system]),
        "KVM_CHECK_EXTENSION": Entry(fds: [.system, .vm], argument: .value(swiftType: "KVMCapability", label: "capability"), result: .value),
        "KVM_GET_VCPU_MMAP_SIZE": Entry(fds: [.system], result: .value),
        "KVM_GET_SUPPORTED_CPUID": Entry(fds: [.system]),
        "KVM_GET_EMULATED_CPUID": Entry(fds: [.system]),
        "KVM_GET_MSR_FEATURE_INDEX_LIST": Entry(fds: [.system]),
        "KVM_X86_GET_MCE_CAP_SUPPORTED": Entry(fds: [.system]),
        "KVM_GET_SUPPORTED_HV_CPUID": Entry(fds: [.system, .vcpu]),
        // VM
        "KVM_CREATE_VCPU": Entry(fds: [.vm], argument: .value(swiftType: "UInt", label: "id"), result: .fileDescriptor(.vcpu)),
        "KVM_GET_DIRTY_LOG": Entry(fds: [.vm], direction: .readWrite, directionReason: writesThroughPointer),
        "KVM_SET_NR_MMU_PAGES": Entry(fds: [.vm], argument: .value(swiftType: "UInt", label: "pages")),
        "KVM_GET_NR_MMU_PAGES": Entry(fds: [.vm], result: .value),
        "KVM_SET_USER_MEMORY_REGION": Entry(fds: [.vm]),
        "KVM_SET_USER_MEMORY_REGION2": Entry(fds: [.vm]),
        "KVM_SET_TSS_ADDR": Entry(fds: [.vm], argument: .value(swiftType: "UInt", label: "address")),
        "KVM_SET_IDENTITY_MAP_ADDR": Entry(fds: [.vm]),
        "KVM_CREATE_IRQCHIP": Entry(fds: [.vm]),
        "KVM_IRQ_LINE": Entry(fds: [.vm]),
        "KVM_IRQ_LINE_STATUS": Entry(fds: [.vm]),
        "KVM_GET_IRQCHIP": Entry(fds: [.vm]),
        "KVM_SET_IRQCHIP": Entry(fds: [.vm], direction: .write, directionReason: "declared _IOR, but the kernel only reads the chip state"),
        "KVM_CREATE_PIT": Entry(fds: [.vm]),
        "KVM_GET_PIT": Entry(fds: [.vm]),
        "KVM_SET_PIT": Entry(fds: [.vm], direction: .write, directionReason: "declared _IOR, but the kernel only reads the PIT state"),
        "KVM_REGISTER_COALESCED_MMIO": Entry(fds: [.vm]),
        "KVM_UNREGISTER_COALESCED_MMIO": Entry(fds: [.vm]),
        "KVM_SET_GSI_ROUTING": Entry(fds: [.vm]),
        "KVM_REINJECT_CONTROL": Entry(
            fds: [.vm], direction: .write, directionReason: "declared _IO, but takes a struct kvm_reinject_control",
            argument: .record(tag: "kvm_reinject_control")),
        "KVM_IRQFD": Entry(fds: [.vm]),
        "KVM_CREATE_PIT2": Entry(fds: [.vm]),
        "KVM_SET_BOOT_CPU_ID": Entry(fds: [.vm], argument: .value(swiftType: "UInt", label: "id")),
        "KVM_IOEVENTFD": Entry(fds: [.vm]),
        "KVM_XEN_HVM_CONFIG": Entry(fds: [.vm]),
        "KVM_SET_CLOCK": Entry(fds: [.vm]),
        "KVM_GET_CLOCK": Entry(fds: [.vm]),
        "KVM_GET_PIT2": Entry(fds: [.vm]),
        "KVM_SET_PIT2": Entry(fds: [.vm]),
        "KVM_SET_TSC_KHZ": Entry(
            fds: [.vm, .vcpu], direction: .write, directionReason: "declared _IO; the frequency is passed by value",
            argument: .value(swiftType: "UInt", label: "kilohertz")),
        "KVM_GET_TSC_KHZ": Entry(fds: [.vm, .vcpu], result: .value),
        "KVM_SIGNAL_MSI": Entry(fds: [.vm], result: .value),
        "KVM_PPC_ALLOCATE_HTAB": Entry(fds: [.vm]),
        "KVM_ARM_SET_DEVICE_ADDR": Entry(fds: [.vm]),
        "KVM_SET_PMU_EVENT_FILTER": Entry(fds: [.vm]),
        "KVM_PPC_SVM_OFF": Entry(fds: [.vm]),
        "KVM_CREATE_DEVICE": Entry(fds: [.vm]),
        "KVM_ENABLE_CAP": Entry(fds: [.vm, .vcpu], result: .value),
        "KVM_MEMORY_ENCRYPT_OP": Entry(fds: [.vm], argument: .untypedPointer, result: .value),
        "KVM_MEMORY_ENCRYPT_REG_REGION": Entry(fds: [.vm], direction: .write, directionReason: "declared _IOR, but the kernel only reads the region"),
        "KVM_MEMORY_ENCRYPT_UNREG_REGION": Entry(fds: [.vm], direction: .write, directionReason: "declared _IOR, but the kernel only reads the region"),
        "KVM_HYPERV_EVENTFD": Entry(fds: [.vm]),
        "KVM_CLEAR_DIRTY_LOG": Entry(fds: [.vm]),
        "KVM_X86_SET_MSR_FILTER": Entry(fds: [.vm]),
        "KVM_RESET_DIRTY_RINGS": Entry(fds: [.vm], result: .value),
        "KVM_XEN_HVM_GET_ATTR": Entry(fds: [.vm]),
        "KVM_XEN_HVM_SET_ATTR": Entry(fds: [.vm]),
        "KVM_XEN_HVM_EVTCHN_SEND": Entry(fds: [.vm]),
        "KVM_SET_MEMORY_ATTRIBUTES": Entry(fds: [.vm]),
        "KVM_CREATE_GUEST_MEMFD": Entry(fds: [.vm], result: .fileDescriptor(nil)),
        "KVM_GET_STATS_FD": Entry(fds: [.vm, .vcpu], result: .fileDescriptor(nil)),
        // Devices (and the VM, vCPU and system attribute groups)
        "KVM_SET_DEVICE_ATTR": Entry(fds: [.vm, .vcpu, .device]),
        "KVM_GET_DEVICE_ATTR": Entry(fds: [.system, .vm, .vcpu, .device], direction: .readWrite, directionReason: writesThroughPointer),
        "KVM_HAS_DEVICE_ATTR": Entry(fds: [.system, .vm, .vcpu, .device]),
        // vCPU
        "KVM_RUN": Entry(fds: [.vcpu]),
        "KVM_GET_REGS": Entry(fds: [.vcpu]),
        "KVM_SET_REGS": Entry(fds: [.vcpu]),
        "KVM_GET_SREGS": Entry(fds: [.vcpu]),
        "KVM_SET_SREGS": Entry(fds: [.vcpu]),
        "KVM_TRANSLATE": Entry(fds: [.vcpu]),
        "KVM_INTERRUPT": Entry(fds: [.vcpu]),
        "KVM_GET_MSRS": Entry(fds: [.system, .vcpu], result: .value),
        "KVM_SET_MSRS": Entry(fds: [.vcpu], result: .value),
        "KVM_SET_CPUID": Entry(fds: [.vcpu]),
        "KVM_SET_SIGNAL_MASK": Entry(fds: [.vcpu]),
        "KVM_GET_FPU": Entry(fds: [.vcpu]),
        "KVM_SET_FPU": Entry(fds: [.vcpu]),
        "KVM_GET_LAPIC": Entry(fds: [.vcpu]),
        "KVM_SET_LAPIC": Entry(fds: [.vcpu]),
        "KVM_SET_CPUID2": Entry(fds: [.vcpu]),
        "KVM_GET_CPUID2": Entry(fds: [.vcpu]),
        "KVM_TPR_ACCESS_REPORTING": Entry(fds: [.vcpu]),
        "KVM_SET_VAPIC_ADDR": Entry(fds: [.vcpu]),
        "KVM_S390_STORE_STATUS": Entry(
            fds: [.vcpu], direction: .write, directionReason: "declared _IOW(unsigned long), but the address is passed by value",
            argument: .value(swiftType: "UInt", label: "address")),
        "KVM_S390_VCPU_FAULT": Entry(
            fds: [.vcpu], direction: .write, directionReason: "declared _IOW(unsigned long), but the address is passed by value",
            argument: .value(swiftType: "UInt", label: "address")),
        "KVM_S390_INITIAL_RESET": Entry(fds: [.vcpu]),
        "KVM_GET_MP_STATE": Entry(fds: [.vcpu]),
        "KVM_SET_MP_STATE": Entry(fds: [.vcpu]),
        "KVM_NMI": Entry(fds: [.vcpu]),
        "KVM_SET_GUEST_DEBUG": Entry(fds: [.vcpu]),
        "KVM_X86_SETUP_MCE": Entry(fds: [.vcpu]),
        "KVM_X86_SET_MCE": Entry(fds: [.vcpu]),
        "KVM_GET_VCPU_EVENTS": Entry(fds: [.vcpu]),
        "KVM_SET_VCPU_EVENTS": Entry(fds: [.vcpu]),
        "KVM_GET_DEBUGREGS": Entry(fds: [.vcpu]),
        "KVM_SET_DEBUGREGS": Entry(fds: [.vcpu]),
        "KVM_GET_XSAVE": Entry(fds: [.vcpu]),
        "KVM_SET_XSAVE": Entry(fds: [.vcpu]),
        "KVM_GET_XSAVE2": Entry(fds: [.vcpu]),
        "KVM_GET_XCRS": Entry(fds: [.vcpu]),
        "KVM_SET_XCRS": Entry(fds: [.vcpu]),
        "KVM_DIRTY_TLB": Entry(fds: [.vcpu]),
        "KVM_GET_ONE_REG": Entry(fds: [.vcpu], direction: .readWrite, directionReason: writesThroughPointer),
        "KVM_SET_ONE_REG": Entry(fds: [.vcpu]),
        "KVM_KVMCLOCK_CTRL": Entry(fds: [.vcpu]),
        "KVM_GET_REG_LIST": Entry(fds: [.vcpu]),
        "KVM_SMI": Entry(fds: [.vcpu]),
        "KVM_GET_NESTED_STATE": Entry(fds: [.vcpu]),
        "KVM_SET_NESTED_STATE": Entry(fds: [.vcpu]),
        "KVM_ARM_VCPU_FINALIZE": Entry(fds: [.vcpu]),
        "KVM_S390_NORMAL_RESET": Entry(fds: [.vcpu]),
        "KVM_S390_CLEAR_RESET": Entry(fds: [.vcpu]),
        "KVM_XEN_VCPU_GET_ATTR": Entry(fds: [.vcpu]),
        "KVM_XEN_VCPU_SET_ATTR": Entry(fds: [.vcpu]),
        "KVM_GET_SREGS2": Entry(fds: [.vcpu]),
        "KVM_SET_SREGS2": Entry(fds: [.vcpu]),
        "KVM_PRE_FAULT_MEMORY": Entry(fds: [.vcpu]),
        // Architecture-specific ioctls bound where their argument types exist
        "KVM_ARM_VCPU_INIT": Entry(fds: [.vcpu]),
        "KVM_ARM_PREFERRED_TARGET": Entry(fds: [.vm]),
        "KVM_ARM_MTE_COPY_TAGS": Entry(fds: [.vm], result: .value),
        "KVM_ARM_SET_COUNTER_OFFSET": Entry(fds: [.vm]),
        "KVM_ARM_GET_REG_WRITABLE_MASKS": Entry(fds: [.vm], direction: .readWrite, directionReason: writesThroughPointer),
    ]

    /// The fd kinds of an ioctl the table does not list, from the header's section comments
    /// ("ioctls for /dev/kvm fds", "ioctls for VM fds", "ioctls for vcpu fds", "... KVM_CREATE_DEVICE").
    static func sectionDefault(line: Int, sections: [(line: Int, kind: FileDescriptorKind)]) -> [FileDescriptorKind] {
        let kind = sections.last { $0.line <= line }?.kind ?? .vm
        return [kind]
    }
}
