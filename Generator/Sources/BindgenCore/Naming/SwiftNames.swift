import Foundation

/// Turns C identifiers into Swift names following the API Design Guidelines:
/// `kvm_userspace_memory_region` → `KVMUserspaceMemoryRegion`, `apic_base` → `apicBase`,
/// `KVM_CREATE_VM` (without its prefix) → `createVM`. Acronyms keep a uniform case.
public enum SwiftNames {
    /// Words spelled with a fixed case inside camel-case names.
    static let acronyms: [String: String] = [
        "kvm": "KVM", "vm": "VM", "vcpu": "VCPU", "cpu": "CPU", "cpuid": "CPUID", "cpuid2": "CPUID2",
        "msr": "MSR", "msrs": "MSRs", "irq": "IRQ", "irqs": "IRQs", "gsi": "GSI", "msi": "MSI", "pit": "PIT",
        "pit2": "PIT2", "tsc": "TSC", "lapic": "LAPIC", "apic": "APIC", "ioapic": "IOAPIC", "mmio": "MMIO",
        "pio": "PIO", "tss": "TSS", "xcr": "XCR", "xcrs": "XCRs", "fpu": "FPU", "sev": "SEV", "snp": "SNP",
        "smi": "SMI", "nmi": "NMI", "id": "ID", "ids": "IDs", "fd": "FD", "api": "API", "tpr": "TPR",
        "io": "IO", "pic": "PIC", "gpa": "GPA", "gfn": "GFN", "hva": "HVA", "mce": "MCE", "svm": "SVM",
        "vmx": "VMX", "smm": "SMM", "pmu": "PMU", "sbi": "SBI", "csr": "CSR", "tlb": "TLB", "eoi": "EOI",
        "hpet": "HPET", "x86": "X86", "s390": "S390", "ppc": "PPC", "arm": "ARM", "arm64": "ARM64",
        "riscv": "RISCV", "sgx": "SGX", "hyperv": "HyperV", "mmu": "MMU", "tdx": "TDX", "gic": "GIC",
        "its": "ITS", "vgic": "VGIC", "pv": "PV", "spapr": "SPAPR", "tce": "TCE", "hpt": "HPT", "hv": "HV",
        "sregs": "SRegs", "sregs2": "SRegs2", "rtc": "RTC", "uuid": "UUID", "dr": "DR", "cr": "CR",
        "cr0": "CR0", "cr2": "CR2", "cr3": "CR3", "cr4": "CR4", "cr8": "CR8", "efer": "EFER", "gdt": "GDT",
        "idt": "IDT", "ldt": "LDT", "tr": "TR", "ioeventfd": "IOEventFD", "irqfd": "IRQFD", "evtchn": "EvtChn",
        "memfd": "MemFD", "xsave": "XSave", "xsave2": "XSave2", "dcr": "DCR", "osi": "OSI", "epr": "EPR",
        "stsi": "STSI", "nisv": "NISV", "iocsr": "IOCSR", "tsch": "TSCH", "sieic": "SIEIC", "papr": "PAPR",
        "ucas": "UCAS", "cmma": "CMMA", "zpci": "ZPCI", "rma": "RMA", "htab": "HTAB", "rtas": "RTAS",
        "mte": "MTE", "sve": "SVE", "ptp": "PTP", "spe": "SPE", "aia": "AIA", "imsic": "IMSIC", "aplic": "APLIC",
        "vfio": "VFIO", "gva": "GVA", "sint": "SINT", "xics": "XICS", "xive": "XIVE", "mpic": "MPIC",
        "fsl": "FSL", "flic": "FLIC", "vsie": "VSIE", "sie": "SIE", "fp": "FP", "bp": "BP", "sw": "SW",
        "hw": "HW", "db": "DB", "irqchip": "IRQChip", "khz": "KHz", "mp": "MP", "rdmsr": "RDMSR", "wrmsr": "WRMSR", "irqchips": "IRQChips", "ac": "AC", "ud": "UD", "nr": "NR", "os": "OS",
    ]

    static let swiftKeywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
        "inout", "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public",
        "rethrows", "static", "struct", "subscript", "typealias", "var", "break", "case", "catch", "continue",
        "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return",
        "throw", "switch", "where", "while", "as", "false", "is", "nil", "self", "Self", "super", "throws",
        "true", "try", "Any", "Type", "Protocol", "some", "any", "await", "consume", "copy", "borrowing",
        "consuming", "discard", "each", "package", "sending",
    ]

    /// Names a Swift member may not take even with backticks.
    static let reservedMemberNames: Set<String> = ["init", "self", "Type", "Protocol", "Self", "deinit", "subscript"]

    /// `kvm_cpuid_entry2` → `KVMCPUIDEntry2`.
    public static func typeName(_ cName: String) -> String {
        let words = cName.split(separator: "_").map(String.init)
        let joined = words.map(upperWord).joined()
        return joined.first?.isNumber == true ? "_" + joined : joined
    }

    /// `apic_base` → `apicBase`, `vcpu_id` → `vcpuID`; keywords come back escaped with backticks.
    public static func memberName(_ cName: String) -> String {
        escape(camelCase(cName))
    }

    /// The camel-case form without escaping.
    public static func camelCase(_ cName: String) -> String {
        let leadingUnderscores = cName.prefix { $0 == "_" }.count
        let words = cName.split(separator: "_").map(String.init)
        guard let first = words.first else { return cName }
        var name = first.lowercased() + words.dropFirst().map(upperWord).joined()
        if name.first?.isNumber == true { name = "_" + name }
        return String(repeating: "_", count: min(leadingUnderscores, 1)) + name
    }

    /// Escapes a member name that is a Swift keyword; renames the few that backticks cannot save.
    public static func escape(_ name: String) -> String {
        if reservedMemberNames.contains(name) { return name + "_" }
        return swiftKeywords.contains(name) ? "`\(name)`" : name
    }

    /// The name without backticks, for use inside other identifiers and manifests.
    public static func unescaped(_ name: String) -> String {
        name.replacingOccurrences(of: "`", with: "")
    }

    static func upperWord(_ word: String) -> String {
        let lower = word.lowercased()
        if let acronym = acronyms[lower] { return acronym }
        return lower.prefix(1).uppercased() + lower.dropFirst()
    }
}
