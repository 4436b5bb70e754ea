/// Names for anonymous struct/union members, by their role. C gives them no name; Swift needs one for
/// the stored property (its members are also reachable directly, as in C, through forwarding
/// properties). Keyed by the enclosing top-level record's tag and the first named member inside.
/// Reviewed by hand; an anonymous member missing here gets a name derived from its first member.
enum AnonymousMemberNames {
    static let table: [String: String] = [
        "kvm_run/hw": "exit",
        "kvm_run/longmode": "mode",
        "kvm_run/insn_size": "instruction",
        "kvm_run/flags": "event",
        "kvm_run/regs": "syncRegs",
        "kvm_vcpu_events/pad": "smi",
        "kvm_xen_hvm_attr/long_mode": "data",
        "kvm_xen_vcpu_attr/gpa": "data",
        "kvm_xen_exit/hcall": "data",
        "kvm_hyperv_exit/synic": "data",
        "kvm_irq_routing_entry/irqchip": "routing",
        "kvm_irqfd/resamplefd": "resample",
        "kvm_one_reg/id": "register",
        "kvm_clear_dirty_log/dirty_bitmap": "bitmap",
        "kvm_dirty_log/dirty_bitmap": "bitmap",
        "kvm_sregs2/pdptrs": "pdptrs",
        "kvm_s390_irq/u": "payload",
        "kvm_ioeventfd/pad": "padding",
        "kvm_enable_cap/args": "arguments",
        "kvm_msi/pad": "padding",
        "kvm_xen_hvm_config/flags": "config",
        "kvm_stats_desc/name": "nameStorage",
    ]

    /// The role name for an anonymous member of `topLevelTag`, given its members' C names.
    static func name(topLevelTag: String, firstMember: String?) -> String {
        if let firstMember, let name = table["\(topLevelTag)/\(firstMember)"] { return name }
        return "anonymous" + SwiftNames.typeName(firstMember ?? "member")
    }
}
