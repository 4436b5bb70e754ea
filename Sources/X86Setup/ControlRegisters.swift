#if arch(x86_64)
/// CR0 bits (Intel SDM vol. 3 §2.5).
public struct ControlRegister0: OptionSet, Hashable, Sendable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// PE: protected mode.
    public static let protectionEnable = ControlRegister0(rawValue: 1 << 0)
    /// MP: `wait`/`fwait` honour TS.
    public static let monitorCoprocessor = ControlRegister0(rawValue: 1 << 1)
    /// EM: no x87 (emulate it).
    public static let emulation = ControlRegister0(rawValue: 1 << 2)
    /// TS: task switched (lazy FPU).
    public static let taskSwitched = ControlRegister0(rawValue: 1 << 3)
    /// ET: always 1 on modern CPUs.
    public static let extensionType = ControlRegister0(rawValue: 1 << 4)
    /// NE: x87 errors through #MF.
    public static let numericError = ControlRegister0(rawValue: 1 << 5)
    /// WP: supervisor writes honour read-only pages.
    public static let writeProtect = ControlRegister0(rawValue: 1 << 16)
    /// AM: alignment checks at CPL3 (with EFLAGS.AC).
    public static let alignmentMask = ControlRegister0(rawValue: 1 << 18)
    /// NW: not write-through.
    public static let notWriteThrough = ControlRegister0(rawValue: 1 << 29)
    /// CD: caching disabled.
    public static let cacheDisable = ControlRegister0(rawValue: 1 << 30)
    /// PG: paging.
    public static let paging = ControlRegister0(rawValue: 1 << 31)
}

/// CR4 bits (Intel SDM vol. 3 §2.5).
public struct ControlRegister4: OptionSet, Hashable, Sendable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let virtual8086ModeExtensions = ControlRegister4(rawValue: 1 << 0)
    public static let protectedModeVirtualInterrupts = ControlRegister4(rawValue: 1 << 1)
    public static let timeStampDisable = ControlRegister4(rawValue: 1 << 2)
    public static let debuggingExtensions = ControlRegister4(rawValue: 1 << 3)
    /// PSE: 4 MiB pages in 32-bit paging.
    public static let pageSizeExtensions = ControlRegister4(rawValue: 1 << 4)
    /// PAE: 64-bit page-table entries (required for long mode).
    public static let physicalAddressExtension = ControlRegister4(rawValue: 1 << 5)
    public static let machineCheckEnable = ControlRegister4(rawValue: 1 << 6)
    /// PGE: global pages.
    public static let pageGlobalEnable = ControlRegister4(rawValue: 1 << 7)
    public static let performanceCounterEnable = ControlRegister4(rawValue: 1 << 8)
    /// OSFXSR: SSE instructions and `fxsave`/`fxrstor`.
    public static let osFXSR = ControlRegister4(rawValue: 1 << 9)
    /// OSXMMEXCPT: unmasked SSE exceptions raise #XM.
    public static let osXMMExceptions = ControlRegister4(rawValue: 1 << 10)
    public static let userModeInstructionPrevention = ControlRegister4(rawValue: 1 << 11)
    /// LA57: 5-level paging.
    public static let fiveLevelPaging = ControlRegister4(rawValue: 1 << 12)
    public static let fsgsBase = ControlRegister4(rawValue: 1 << 16)
    public static let pcid = ControlRegister4(rawValue: 1 << 17)
    /// OSXSAVE: `xsave` family and XCR0.
    public static let osXSAVE = ControlRegister4(rawValue: 1 << 18)
    public static let supervisorModeExecutionPrevention = ControlRegister4(rawValue: 1 << 20)
    public static let supervisorModeAccessPrevention = ControlRegister4(rawValue: 1 << 21)
}

/// IA32_EFER bits (MSR 0xC0000080).
public struct ExtendedFeatureEnable: OptionSet, Hashable, Sendable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// SCE: `syscall`/`sysret`.
    public static let systemCallExtensions = ExtendedFeatureEnable(rawValue: 1 << 0)
    /// LME: long mode enabled (takes effect when paging is turned on).
    public static let longModeEnable = ExtendedFeatureEnable(rawValue: 1 << 8)
    /// LMA: long mode active (set by the CPU; KVM_SET_SREGS takes it directly).
    public static let longModeActive = ExtendedFeatureEnable(rawValue: 1 << 10)
    /// NXE: the no-execute bit in page-table entries.
    public static let noExecuteEnable = ExtendedFeatureEnable(rawValue: 1 << 11)
}

/// RFLAGS bits a VMM sets or clears when it delivers an exception or completes an instruction for
/// the guest (Intel SDM vol. 1 §3.4.3).
public struct FlagsRegister: OptionSet, Hashable, Sendable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Bit 1: always set.
    public static let reserved1 = FlagsRegister(rawValue: 1 << 1)
    /// TF: single-step.
    public static let trap = FlagsRegister(rawValue: 1 << 8)
    /// IF: maskable interrupts enabled.
    public static let interruptEnable = FlagsRegister(rawValue: 1 << 9)
    /// NT: nested task.
    public static let nestedTask = FlagsRegister(rawValue: 1 << 14)
    /// RF: resume (suppresses instruction breakpoints for one instruction).
    public static let resume = FlagsRegister(rawValue: 1 << 16)
    /// VM: virtual-8086 mode.
    public static let virtual8086Mode = FlagsRegister(rawValue: 1 << 17)

    /// IOPL, bits 12-13: the highest CPL allowed port I/O without the TSS bitmap.
    public var ioPrivilegeLevel: Int { Int((rawValue >> 12) & 3) }
}
#endif
