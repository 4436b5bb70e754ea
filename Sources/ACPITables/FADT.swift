/// The Fixed ACPI Description Table ("FACP"), revision 6.x (276 bytes), for a hardware-reduced
/// machine: no PM1 blocks, PM timer, GPEs or SCI; power-off and reset go through the sleep control,
/// sleep status and reset registers.
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
    public var flags: Flags
    public var bootArchitecture: BootArchitecture
    /// The CMOS RAM index of the century register, or 0 for none.
    public var centuryRegister: UInt8 = 0
    public var resetRegister: GenericAddress?
    public var resetValue: UInt8 = 0
    public var sleepControlRegister: GenericAddress?
    public var sleepStatusRegister: GenericAddress?
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
