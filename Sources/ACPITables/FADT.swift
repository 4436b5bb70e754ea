/// The Fixed ACPI Description Table ("FACP"), revision 6.x (276 bytes), in one of two shapes:
///
/// - ``hardwareReduced(sleepControl:sleepStatus:reset:bootArchitecture:centuryRegister:hypervisorVendor:)``:
///   no PM1 blocks, PM timer, GPEs or SCI; power-off and reset go through the sleep control, sleep
///   status and reset registers. Linux then runs without the legacy 8259 PICs and maps no ISA IRQ
///   by itself: an ISA device reaches its IRQ only through its `_CRS` in the DSDT.
/// - ``fixedHardware(pm1EventBlock:pm1ControlBlock:sciInterrupt:bootArchitecture:centuryRegister:hypervisorVendor:)``:
///   the PC's fixed ACPI hardware: a PM1a event block (PM1_STS, PM1_EN) and control block (PM1_CNT)
///   at I/O ports and an SCI, with no SMI command port (the machine is always in ACPI mode). Linux
///   keeps the 8259s and the ISA IRQs, and powers off through PM1_CNT. LegacyDevices'
///   `ACPIPM1Registers` implements those registers.
///
/// No PM timer or GPE blocks in either shape; the fixed-hardware shape has a ``FACS``, which
/// ``ACPITableSet`` places.
public struct FADT: ACPITable {
    public var signature: String { "FACP" }

    /// The FADT's Flags field.
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let wbinvd = Flags(rawValue: 1 << 0)
        /// The power button is a control-method device (`PNP0C0C` in the DSDT), or absent.
        public static let powerButtonIsControlMethod = Flags(rawValue: 1 << 4)
        /// The sleep button is a control-method device, or absent.
        public static let sleepButtonIsControlMethod = Flags(rawValue: 1 << 5)
        /// RTC wake status is not in the fixed register space.
        public static let fixedRTCNotSupported = Flags(rawValue: 1 << 6)
        public static let resetRegisterSupported = Flags(rawValue: 1 << 10)
        public static let hardwareReduced = Flags(rawValue: 1 << 20)
    }

    /// IA-PC boot architecture flags (IAPC_BOOT_ARCH).
    public struct BootArchitecture: OptionSet, Sendable, Hashable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        public static let legacyDevices = BootArchitecture(rawValue: 1 << 0)
        /// An i8042 keyboard controller is present (Linux then probes it).
        public static let has8042 = BootArchitecture(rawValue: 1 << 1)
        public static let vgaNotPresent = BootArchitecture(rawValue: 1 << 2)
        public static let msiNotSupported = BootArchitecture(rawValue: 1 << 3)
        /// Tells Linux not to register the CMOS RTC as a device (its wall-clock read at boot is unaffected).
        public static let cmosRTCNotPresent = BootArchitecture(rawValue: 1 << 5)
    }

    /// The DSDT's address (an ``ACPITableSet`` fills it in).
    public var dsdtAddress: UInt64 = 0
    /// The FACS's address, or 0 for none (an ``ACPITableSet`` fills it in when the FADT is not
    /// hardware-reduced).
    public var firmwareControlAddress: UInt64 = 0
    public var flags: Flags
    public var bootArchitecture: BootArchitecture
    /// The CMOS RAM index of the century register, or 0 for none.
    public var centuryRegister: UInt8 = 0
    public var resetRegister: GenericAddress?
    public var resetValue: UInt8 = 0
    public var sleepControlRegister: GenericAddress?
    public var sleepStatusRegister: GenericAddress?
    /// The SCI's ISA IRQ (SCI_INT; 9 on PCs), used with the PM1 blocks.
    public var sciInterrupt: UInt16 = 0
    /// The PM1a event block (PM1_STS then PM1_EN; its bit width is PM1_EVT_LEN × 8, 32 on PCs).
    public var pm1aEventBlock: GenericAddress?
    /// The PM1a control block (PM1_CNT; its bit width is PM1_CNT_LEN × 8, 16 on PCs).
    public var pm1aControlBlock: GenericAddress?
    /// Up to 8 ASCII characters (the FADT's hypervisor vendor identity).
    public var hypervisorVendor: String = ""

    public init(flags: Flags, bootArchitecture: BootArchitecture) {
        self.flags = flags
        self.bootArchitecture = bootArchitecture
    }

    /// A hardware-reduced FADT with the given sleep control/status registers and, if given, a reset
    /// register (which sets RESET_REG_SUP).
    public static func hardwareReduced(
        sleepControl: GenericAddress, sleepStatus: GenericAddress, reset: (register: GenericAddress, value: UInt8)? = nil,
        bootArchitecture: BootArchitecture = [.vgaNotPresent], centuryRegister: UInt8 = 0, hypervisorVendor: String = "SWIFTKVM"
    ) -> FADT {
        var fadt = FADT(
            flags: [.wbinvd, .powerButtonIsControlMethod, .sleepButtonIsControlMethod, .fixedRTCNotSupported, .hardwareReduced],
            bootArchitecture: bootArchitecture)
        fadt.sleepControlRegister = sleepControl
        fadt.sleepStatusRegister = sleepStatus
        if let reset {
            fadt.flags.insert(.resetRegisterSupported)
            fadt.resetRegister = reset.register
            fadt.resetValue = reset.value
        }
        fadt.centuryRegister = centuryRegister
        fadt.hypervisorVendor = hypervisorVendor
        return fadt
    }

    /// A FADT for the PC's fixed ACPI hardware: the PM1a event block (4 ports: PM1_STS, PM1_EN) at
    /// `pm1EventBlock`, the PM1a control block (2 ports: PM1_CNT) at `pm1ControlBlock`, the SCI on ISA
    /// IRQ `sciInterrupt`, no SMI command port. The power button is the fixed-feature one (PWRBTN_STS
    /// and PWRBTN_EN in the PM1 event block); the sleep button is a control-method device or absent,
    /// and the RTC's wake status is not in PM1_STS. Declare the SCI's trigger in the MADT (an interrupt
    /// source override, level-triggered and active-high, as PC firmware does) and `\_S5_` in the DSDT
    /// for power-off.
    public static func fixedHardware(
        pm1EventBlock: UInt16, pm1ControlBlock: UInt16, sciInterrupt: UInt16 = 9,
        bootArchitecture: BootArchitecture = [.vgaNotPresent], centuryRegister: UInt8 = 0, hypervisorVendor: String = "SWIFTKVM"
    ) -> FADT {
        var fadt = FADT(flags: [.wbinvd, .sleepButtonIsControlMethod, .fixedRTCNotSupported], bootArchitecture: bootArchitecture)
        fadt.sciInterrupt = sciInterrupt
        fadt.pm1aEventBlock = GenericAddress(space: .systemIO, bitWidth: 32, accessSize: .undefined, address: UInt64(pm1EventBlock))
        fadt.pm1aControlBlock = GenericAddress(space: .systemIO, bitWidth: 16, accessSize: .undefined, address: UInt64(pm1ControlBlock))
        fadt.centuryRegister = centuryRegister
        fadt.hypervisorVendor = hypervisorVendor
        return fadt
    }

    public static let size = 276

    public func encoded(identity: TableIdentity) throws(ACPIError) -> [UInt8] {
        let header = SystemDescriptionTable.headerSize
        var body = [UInt8](repeating: 0, count: Self.size - header)
        func put(_ bytes: [UInt8], at offset: Int) { body.replaceSubrange((offset - header)..<(offset - header + bytes.count), with: bytes) }
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            var writer = ByteWriter()
            writer.append(value)
            put(writer.bytes, at: offset)
        }
        // DSDT (32-bit) only when the address fits; X_DSDT always.
        if dsdtAddress <= UInt64(UInt32.max) { put(UInt32(dsdtAddress), at: 40) }
        // FIRMWARE_CTRL when the FACS is below 4 GiB, X_FIRMWARE_CTRL otherwise: ACPI says one of them is zero.
        if firmwareControlAddress <= UInt64(UInt32.max) { put(UInt32(firmwareControlAddress), at: 36) } else { put(firmwareControlAddress, at: 132) }
        put(sciInterrupt, at: 46)
        // PM1a blocks: the 32-bit port fields (I/O space blocks only) and their lengths, and the X_ fields.
        for (block, legacyOffset, lengthOffset, extendedOffset) in [(pm1aEventBlock, 56, 88, 148), (pm1aControlBlock, 64, 89, 172)] {
            guard let block else { continue }
            if block.space == .systemIO, block.address <= UInt64(UInt32.max) { put(UInt32(block.address), at: legacyOffset) }
            put(UInt8(truncatingIfNeeded: Int(block.bitWidth) / 8), at: lengthOffset)
            put(block.encoded, at: extendedOffset)
        }
        put(centuryRegister, at: 108)
        put(bootArchitecture.rawValue, at: 109)
        put(flags.rawValue, at: 112)
        put((resetRegister ?? .none).encoded, at: 116)
        put(resetValue, at: 128)
        put(UInt8(3), at: 131)  // FADT minor version: 6.3
        put(dsdtAddress, at: 140)  // X_DSDT
        put((sleepControlRegister ?? .none).encoded, at: 244)
        put((sleepStatusRegister ?? .none).encoded, at: 256)
        put(try TableIdentity.field("hypervisor vendor", hypervisorVendor, length: 8).map { $0 == 0x20 && hypervisorVendor.isEmpty ? 0 : $0 }, at: 268)
        return try SystemDescriptionTable.encode(signature: signature, revision: 6, identity: identity, body: body)
    }
}
