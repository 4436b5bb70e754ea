import ACPITables
import Testing

/// Every table a microVM gets, disassembled by ACPICA's own parser (`iasl -d`): no errors, and the
/// objects and fields we meant are there.
@Suite(.enabled(if: IASL.path != nil, Comment(rawValue: IASL.missing)))
struct IASLDisassemblyTests {
    static let identity = TableIdentity()

    static let dsdt = DefinitionBlock.dsdt([
        AML.sleepState5(type: 5),
        AML.Scope("\\_SB_", [
            AML.serialPort(name: "COM1", uid: 1, port: 0x3F8, irq: 4),
            AML.powerButton(),
            AML.virtioMMIO(name: "VR00", uid: 0, address: 0xD000_0000, size: 0x1000, gsi: 5),
            AML.Device("DEV0", [
                AML.Name("_HID", "ACPI0007"),
                AML.Method("_STA", [AML.Return(0x0F)]),
                AML.Method("ARGS", arguments: 2, serialized: true, [AML.Return(UInt64(0x1_0000_0000))]),
                AML.Name("_CRS", AML.ResourceTemplate([
                    .ioPorts(0x600, length: 3),
                    .memory32Fixed(base: 0xFEC0_0000, length: 0x1000, writable: false),
                    .extendedInterrupt([9, 10], edgeTriggered: false, activeLow: true, shared: true),
                ])),
            ]),
        ]),
    ])

    static let fadt = FADT.hardwareReduced(
        sleepControl: .ioPort(0x600), sleepStatus: .ioPort(0x601), reset: (.ioPort(0x602), 0x01), centuryRegister: 0x32)

    static func disassemble(_ table: [UInt8], _ name: String) throws -> String {
        let result = try IASL.disassemble(table, name: name)
        #expect(result.status == 0, "iasl -d \(name): status \(result.status)\n\(result.output)")
        #expect(!result.output.contains("Error"), "iasl -d \(name) reported errors:\n\(result.output)")
        return try #require(result.source, "iasl -d \(name) wrote no disassembly:\n\(result.output)")
    }

    @Test func printsTheIASLVersionUsed() {
        print("ACPITablesTests: \(IASL.version())")
    }

    @Test func dsdtDisassemblesWithEveryObjectAndRecompilesCleanly() throws {
        var fadt = Self.fadt
        fadt.dsdtAddress = 0x1000
        let source = try Self.disassemble(try Self.dsdt.encoded(identity: Self.identity), "dsdt")
        for expected in [
            "DefinitionBlock", "Name (_S5, Package (0x04)", "Scope (\\_SB)",
            "Device (COM1)", "Name (_HID, EisaId (\"PNP0501\")", "IO (Decode16,", "0x03F8,", "IRQNoFlags ()", "{4}",
            "Device (PWRB)", "EisaId (\"PNP0C0C\")",
            "Device (VR00)", "Name (_HID, \"LNRO0005\")", "Memory32Fixed (ReadWrite,", "0xD0000000,", "0x00001000,",
            "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )", "0x00000005,",
            "Method (_STA, 0, NotSerialized)", "Return (0x0F)", "Method (ARGS, 2, Serialized)", "Return (0x0000000100000000)",
            "Memory32Fixed (ReadOnly,", "Interrupt (ResourceConsumer, Level, ActiveLow, Shared, ,, )",
        ] {
            #expect(source.contains(expected), "the DSDT disassembly lacks \(expected):\n\(source)")
        }
        // ACPICA's compiler accepts its own disassembly of our AML without errors or warnings.
        let compiled = try IASL.compile(source, name: "dsdt")
        #expect(compiled.status == 0, "\(compiled.output)")
        #expect(compiled.output.contains("0 Errors, 0 Warnings"), "\(compiled.output)")
    }

    @Test func fadtIsHardwareReducedWithSleepAndResetRegisters() throws {
        var fadt = Self.fadt
        fadt.dsdtAddress = 0xE_0040
        let source = try Self.disassemble(try fadt.encoded(identity: Self.identity), "facp")
        for expected in [
            "[004h 0004   4]                 Table Length : 00000114",
            "Hardware Reduced (V5) : 1",
            "Reset Register Supported (V2) : 1",
            "Control Method Power Button (V1) : 1",
            "RTC Century Index : 32",
            "[074h 0116  12]               Reset Register : [Generic Address Structure]",
            "Value to cause reset : 01",
            "Sleep Control Register : [Generic Address Structure]",
            "Sleep Status Register : [Generic Address Structure]",
            "Address : 0000000000000602",
            "Address : 0000000000000600",
            "Address : 0000000000000601",
            "DSDT Address : 000E0040",
        ] {
            #expect(source.contains(expected), "the FADT disassembly lacks \(expected):\n\(source)")
        }
        #expect(source.contains("Hypervisor ID"), "\(source)")
    }

    @Test func fixedHardwareFADTHasPM1BlocksAndSCI() throws {
        var fadt = FADT.fixedHardware(pm1EventBlock: 0x600, pm1ControlBlock: 0x604, sciInterrupt: 9, centuryRegister: 0x32)
        fadt.dsdtAddress = 0xE_0040
        let table = try fadt.encoded(identity: Self.identity)
        let source = try Self.disassemble(table, "facp")
        for expected in [
            "SCI Interrupt : 0009",
            "SMI Command Port : 00000000",
            "PM1A Event Block Address : 00000600",
            "PM1A Control Block Address : 00000604",
            "PM1 Event Block Length : 04",
            "PM1 Control Block Length : 02",
            "Hardware Reduced (V5) : 0",
            "Control Method Power Button (V1) : 0",
            "Control Method Sleep Button (V1) : 1",
            "[094h 0148  12]             PM1A Event Block : [Generic Address Structure]",
            "[0ACh 0172  12]           PM1A Control Block : [Generic Address Structure]",
            "Address : 0000000000000600",
            "Address : 0000000000000604",
            "Bit Width : 20",
            "Bit Width : 10",
        ] {
            #expect(source.contains(expected), "the FADT disassembly lacks \(expected):\n\(source)")
        }
        // The fields Linux checks for a fixed-hardware FADT (tbfadt.c's "Required FADT field ... has zero
        // address and/or length") are set, and the X_ blocks' spaces are I/O.
        #expect(table[148] == 1 && table[172] == 1)
    }

    @Test func aFixedHardwareSetHasAFACSOnA64ByteBoundaryThatTheFADTPointsAt() throws {
        let fadt = FADT.fixedHardware(pm1EventBlock: 0x600, pm1ControlBlock: 0x604)
        let set = try ACPITableSet(base: 0xE_0000, fadt: fadt, dsdt: Self.dsdt, tables: [MADT.kvm(cpuCount: 1)])
        #expect(set.tables.map(\.signature) == ["RSDP", "DSDT", "FACS", "FACP", "APIC", "XSDT"])
        let facsAddress = try #require(set.tables.first { $0.signature == "FACS" }?.address)
        let fadtAddress = try #require(set.tables.first { $0.signature == "FACP" }?.address)
        #expect(facsAddress % 64 == 0)
        let fadtOffset = Int(fadtAddress - set.base), facsOffset = Int(facsAddress - set.base)
        #expect(UInt64(littleEndian32(set.blob, fadtOffset + 36)) == facsAddress, "FIRMWARE_CTRL")
        #expect(set.blob[(fadtOffset + 132)..<(fadtOffset + 140)].allSatisfy { $0 == 0 }, "X_FIRMWARE_CTRL is zero when FIRMWARE_CTRL is used")
        let source = try Self.disassemble(Array(set.blob[facsOffset..<(facsOffset + FACS.size)]), "facs")
        for expected in ["Signature : \"FACS\"", "Length : 00000040", "Version : 02", "Global Lock : 00000000"] {
            #expect(source.contains(expected), "the FACS disassembly lacks \(expected):\n\(source)")
        }
        // A hardware-reduced set has none, and a misaligned base is refused rather than misplacing it.
        #expect(try ACPITableSet(base: 0xE_0000, fadt: Self.fadt, dsdt: Self.dsdt).tables.allSatisfy { $0.signature != "FACS" })
        #expect(throws: ACPIError.self) { try ACPITableSet(base: 0xE_0010, fadt: fadt, dsdt: Self.dsdt) }
    }

    @Test func madtListsEveryProcessorTheIOAPICAndOverrides() throws {
        let madt = MADT.kvm(cpuCount: 3, overrides: [(source: 0, gsi: 2, flags: .conforming), (source: 9, gsi: 9, flags: [.activeHigh, .levelTriggered])])
        let source = try Self.disassemble(try madt.encoded(identity: Self.identity), "apic")
        #expect(source.components(separatedBy: "Subtable Type : 00 [Processor Local APIC]").count - 1 == 3, "\(source)")
        #expect(source.contains("Subtable Type : 01 [I/O APIC]"), "\(source)")
        #expect(source.contains("Address : FEC00000"), "\(source)")
        #expect(source.components(separatedBy: "Subtable Type : 02 [Interrupt Source Override]").count - 1 == 2, "\(source)")
        #expect(source.contains("Subtable Type : 04 [Local APIC NMI]"), "\(source)")
        #expect(!source.contains("Unknown"), "\(source)")
    }

    /// Every table of a placed set, cut out of the blob at the address the XSDT (or the FADT, for the
    /// DSDT) gives. iasl 20200925 cannot load an RSDP from a file ("does not contain a valid ACPI
    /// table": its file loader expects a 36-byte table header), so the RSDP is checked field by field
    /// in `TableLayoutTests`.
    @Test func everyTableOfAPlacedSetDisassembles() throws {
        let set = try ACPITableSet(base: 0xE_0000, fadt: Self.fadt, dsdt: Self.dsdt, tables: [MADT.kvm(cpuCount: 2)])
        #expect(set.tables.map(\.signature) == ["RSDP", "DSDT", "FACP", "APIC", "XSDT"])
        for (signature, address) in set.tables where signature != "RSDP" {
            let offset = Int(address - set.base)
            let length = Int(littleEndian32(set.blob, offset + 4))
            let source = try Self.disassemble(Array(set.blob[offset..<(offset + length)]), signature.lowercased())
            #expect(!source.contains("Invalid"), "\(signature):\n\(source)")
            if signature == "XSDT" {
                #expect(source.contains("ACPI Table Address   0 : 00000000000E"), "\(source)")
                #expect(source.contains("ACPI Table Address   1 : 00000000000E"), "\(source)")
                #expect(!source.contains("ACPI Table Address   2"), "\(source)")
            }
        }
    }
}

func littleEndian32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
}
