/// How the header's constants are grouped into Swift types, by name prefix (longest prefix wins).
/// Value groups become open `RawRepresentable` structs (unknown raw values survive); flag groups
/// become `OptionSet`s. Constants in no group are members of `KVMConstants`.
struct ConstantGroup: Sendable {
    enum Kind: Sendable { case values, flags }
    var prefix: String
    var typeName: String
    var kind: Kind
    var rawType: String
    var summary: String
    /// Constants with the prefix that belong elsewhere (e.g. a page offset among flags).
    var excluded: Set<String> = []
}

enum ConstantGroups {
    static let all: [ConstantGroup] = [
        ConstantGroup(prefix: "KVM_EXIT_", typeName: "KVMExitReason", kind: .values, rawType: "UInt32",
                      summary: "Why `KVM_RUN` returned to user space (`kvm_run.exit_reason`).",
                      excluded: ["KVM_EXIT_HYPERCALL_LONG_MODE"]),
        ConstantGroup(prefix: "KVM_EXIT_IO_", typeName: "KVMExitIODirection", kind: .values, rawType: "UInt8",
                      summary: "Direction of a port I/O exit (`kvm_run.io.direction`)."),
        ConstantGroup(prefix: "KVM_EXIT_HYPERV_", typeName: "KVMHyperVExitType", kind: .values, rawType: "UInt32",
                      summary: "Kind of a Hyper-V exit (`kvm_hyperv_exit.type`)."),
        ConstantGroup(prefix: "KVM_EXIT_XEN_", typeName: "KVMXenExitType", kind: .values, rawType: "UInt32",
                      summary: "Kind of a Xen exit (`kvm_xen_exit.type`)."),
        ConstantGroup(prefix: "KVM_INTERNAL_ERROR_", typeName: "KVMInternalErrorSuberror", kind: .values, rawType: "UInt32",
                      summary: "Suberror of `KVM_EXIT_INTERNAL_ERROR` (`kvm_run.internal.suberror`).",
                      excluded: ["KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES"]),
        ConstantGroup(prefix: "KVM_SYSTEM_EVENT_", typeName: "KVMSystemEventType", kind: .values, rawType: "UInt32",
                      summary: "Type of a `KVM_EXIT_SYSTEM_EVENT` (`kvm_run.system_event.type`)."),
        ConstantGroup(prefix: "KVM_CAP_", typeName: "KVMCapability", kind: .values, rawType: "Int32",
                      summary: "An extension `KVM_CHECK_EXTENSION` asks about and `KVM_ENABLE_CAP` enables."),
        ConstantGroup(prefix: "KVM_MEM_", typeName: "KVMMemoryRegionFlags", kind: .flags, rawType: "UInt32",
                      summary: "Flags of a user memory region (`kvm_userspace_memory_region.flags`)."),
        ConstantGroup(prefix: "KVM_IRQCHIP_", typeName: "KVMIRQChipID", kind: .values, rawType: "UInt32",
                      summary: "An in-kernel interrupt controller (`kvm_irqchip.chip_id`, routing entries)."),
        ConstantGroup(prefix: "KVM_IOEVENTFD_FLAG_", typeName: "KVMIOEventFDFlags", kind: .flags, rawType: "UInt32",
                      summary: "Flags of `KVM_IOEVENTFD` (`kvm_ioeventfd.flags`)."),
        ConstantGroup(prefix: "KVM_IRQFD_FLAG_", typeName: "KVMIRQFDFlags", kind: .flags, rawType: "UInt32",
                      summary: "Flags of `KVM_IRQFD` (`kvm_irqfd.flags`)."),
        ConstantGroup(prefix: "KVM_GUESTDBG_", typeName: "KVMGuestDebugFlags", kind: .flags, rawType: "UInt32",
                      summary: "Flags of `KVM_SET_GUEST_DEBUG` (`kvm_guest_debug.control`)."),
        ConstantGroup(prefix: "KVM_MP_STATE_", typeName: "KVMMultiprocessingState", kind: .values, rawType: "UInt32",
                      summary: "A vCPU's multiprocessing state (`kvm_mp_state.mp_state`)."),
        ConstantGroup(prefix: "KVM_IRQ_ROUTING_", typeName: "KVMIRQRoutingType", kind: .values, rawType: "UInt32",
                      summary: "Type of a GSI routing entry (`kvm_irq_routing_entry.type`)."),
        ConstantGroup(prefix: "KVM_DEV_TYPE_", typeName: "KVMDeviceType", kind: .values, rawType: "UInt32",
                      summary: "A device `KVM_CREATE_DEVICE` creates (`kvm_create_device.type`)."),
        ConstantGroup(prefix: "KVM_VCPUEVENT_VALID_", typeName: "KVMVCPUEventsFlags", kind: .flags, rawType: "UInt32",
                      summary: "Which parts of `kvm_vcpu_events` are valid (`kvm_vcpu_events.flags`)."),
        ConstantGroup(prefix: "KVM_SYNC_X86_", typeName: "KVMSyncRegsFlags", kind: .flags, rawType: "UInt64",
                      summary: "Register classes in `kvm_run.s.regs` (`kvm_valid_regs`, `kvm_dirty_regs`)."),
        ConstantGroup(prefix: "KVM_DIRTY_GFN_F_", typeName: "KVMDirtyGFNFlags", kind: .flags, rawType: "UInt32",
                      summary: "State of a dirty-ring entry (`kvm_dirty_gfn.flags`)."),
        ConstantGroup(prefix: "KVM_X86_QUIRK_", typeName: "KVMX86Quirks", kind: .flags, rawType: "UInt64",
                      summary: "Quirks `KVM_CAP_DISABLE_QUIRKS2` can disable."),
        ConstantGroup(prefix: "KVM_CPUID_FLAG_", typeName: "KVMCPUIDFlags", kind: .flags, rawType: "UInt32",
                      summary: "Flags of a CPUID entry (`kvm_cpuid_entry2.flags`)."),
        ConstantGroup(prefix: "KVM_MSR_EXIT_REASON_", typeName: "KVMMSRExitReasons", kind: .flags, rawType: "UInt64",
                      summary: "Which MSR accesses exit to user space (`KVM_CAP_X86_USER_SPACE_MSR`)."),
        ConstantGroup(prefix: "KVM_RUN_X86_", typeName: "KVMRunFlags", kind: .flags, rawType: "UInt16",
                      summary: "Flags KVM reports on exit (`kvm_run.flags`)."),
        ConstantGroup(prefix: "KVM_X86_DISABLE_EXITS_", typeName: "KVMX86DisableExits", kind: .flags, rawType: "UInt64",
                      summary: "Exits `KVM_CAP_X86_DISABLE_EXITS` turns off."),
        ConstantGroup(prefix: "KVM_MEMORY_ATTRIBUTE_", typeName: "KVMMemoryAttributeFlags", kind: .flags, rawType: "UInt64",
                      summary: "Attributes of guest memory (`kvm_memory_attributes.attributes`)."),
        ConstantGroup(prefix: "KVM_CLOCK_", typeName: "KVMClockFlags", kind: .flags, rawType: "UInt32",
                      summary: "Flags of `kvm_clock_data.flags`."),
        ConstantGroup(prefix: "KVM_PIT_FLAGS_", typeName: "KVMPITFlags", kind: .flags, rawType: "UInt32",
                      summary: "Flags of `kvm_pit_state2.flags`."),
        ConstantGroup(prefix: "KVM_X2APIC_API_", typeName: "KVMX2APICAPIFlags", kind: .flags, rawType: "UInt64",
                      summary: "Flags of `KVM_CAP_X2APIC_API`."),
        ConstantGroup(prefix: "KVM_DIRTY_LOG_", typeName: "KVMDirtyLogProtectFlags", kind: .flags, rawType: "UInt64",
                      summary: "Flags of `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2`.",
                      excluded: ["KVM_DIRTY_LOG_PAGE_OFFSET"]),
        ConstantGroup(prefix: "KVM_STATS_TYPE_", typeName: "KVMStatsType", kind: .values, rawType: "UInt32",
                      summary: "Kind of a binary statistic (`kvm_stats_desc.flags & KVM_STATS_TYPE_MASK`).",
                      excluded: ["KVM_STATS_TYPE_SHIFT", "KVM_STATS_TYPE_MASK", "KVM_STATS_TYPE_MAX"]),
        ConstantGroup(prefix: "KVM_STATS_UNIT_", typeName: "KVMStatsUnit", kind: .values, rawType: "UInt32",
                      summary: "Unit of a binary statistic (`kvm_stats_desc.flags & KVM_STATS_UNIT_MASK`).",
                      excluded: ["KVM_STATS_UNIT_SHIFT", "KVM_STATS_UNIT_MASK", "KVM_STATS_UNIT_MAX"]),
        ConstantGroup(prefix: "KVM_STATS_BASE_", typeName: "KVMStatsBase", kind: .values, rawType: "UInt32",
                      summary: "Base of a binary statistic's exponent (`kvm_stats_desc.flags & KVM_STATS_BASE_MASK`).",
                      excluded: ["KVM_STATS_BASE_SHIFT", "KVM_STATS_BASE_MASK", "KVM_STATS_BASE_MAX"]),
    ]

    /// The group a constant belongs to: the longest matching prefix, unless excluded.
    static func group(of name: String) -> ConstantGroup? {
        all.filter { name.hasPrefix($0.prefix) && !$0.excluded.contains(name) }
            .max { $0.prefix.count < $1.prefix.count }
    }
}
