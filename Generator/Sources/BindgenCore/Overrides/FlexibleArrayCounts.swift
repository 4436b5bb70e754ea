/// Which header field counts a record's flexible array, reviewed against api.rst.
/// Records missing here have no count field (the length comes from elsewhere, e.g. a capability).
enum FlexibleArrayCounts {
    enum Count: Equatable {
        /// The field holds the number of elements.
        case field(String)
        /// The field holds the size in bytes of header plus elements.
        case totalBytes(String)
    }

    static let table: [String: Count] = [
        "kvm_msrs": .field("nmsrs"),
        "kvm_msr_list": .field("nmsrs"),
        "kvm_cpuid": .field("nent"),
        "kvm_cpuid2": .field("nent"),
        "kvm_irq_routing": .field("nr"),
        "kvm_reg_list": .field("n"),
        "kvm_signal_mask": .field("len"),
        "kvm_pmu_event_filter": .field("nevents"),
        "kvm_nested_state": .totalBytes("size"),
    ]
}
