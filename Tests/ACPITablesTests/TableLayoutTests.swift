import ACPITables
import Testing

/// Byte layouts, checksums and the AML encoding rules, checked against the ACPI specification's numbers.
struct TableLayoutTests {
    func sum(_ bytes: ArraySlice<UInt8>) -> UInt8 { bytes.reduce(0, &+) }

    @Test func rsdpHasBothChecksumsRevisionTwoAndTheXSDTAddress() throws {
        let rsdp = try RSDP(xsdtAddress: 0x1_2345_6780).encoded()
        #expect(rsdp.count == 36)
        #expect(Array(rsdp[0..<8]) == Array("RSD PTR ".utf8))
        #expect(sum(rsdp[0..<20]) == 0)
        #expect(sum(rsdp[0..<36]) == 0)
        #expect(rsdp[15] == 2)
        #expect(littleEndian32(rsdp, 16) == 0, "no RSDT")
        #expect(littleEndian32(rsdp, 20) == 36)
        #expect(littleEndian32(rsdp, 24) == 0x2345_6780 && littleEndian32(rsdp, 28) == 1)
        #expect(Array(rsdp[9..<15]) == Array("SWKVM ".utf8))
    }

    @Test func placedSetLinksEveryTableAtSixteenByteBoundariesWithValidChecksums() throws {
        let fadt = FADT.hardwareReduced(sleepControl: .ioPort(0x600), sleepStatus: .ioPort(0x601))
        let set = try ACPITableSet(
            base: 0xE_0000, fadt: fadt, dsdt: .dsdt([AML.sleepState5()]), tables: [MADT.kvm(cpuCount: 4)])
        let blob = set.blob
        #expect(set.rsdpAddress == 0xE_0000)
        for (signature, address) in set.tables {
            #expect(address % 16 == 0, "\(signature)")
            guard signature != "RSDP" else { continue }
            let offset = Int(address - set.base)
            let length = Int(littleEndian32(blob, offset + 4))
            #expect(String(decoding: blob[offset..<(offset + 4)], as: UTF8.self) == signature)
            #expect(sum(blob[offset..<(offset + length)]) == 0, "\(signature) checksum")
        }
        let address = Dictionary(uniqueKeysWithValues: set.tables.map { ($0.signature, $0.address) })
        let xsdt = Int(try #require(address["XSDT"]) - set.base)
        #expect(UInt64(littleEndian32(blob, 24)) == address["XSDT"], "RSDP → XSDT")
        #expect(littleEndian32(blob, xsdt + 4) == 36 + 16)
        #expect(UInt64(littleEndian32(blob, xsdt + 36)) == address["FACP"])
        #expect(UInt64(littleEndian32(blob, xsdt + 44)) == address["APIC"])
        let facp = Int(try #require(address["FACP"]) - set.base)
        #expect(littleEndian32(blob, facp + 4) == 276)
        #expect(blob[facp + 8] == 6, "FADT revision 6")
        #expect(UInt64(littleEndian32(blob, facp + 40)) == address["DSDT"], "DSDT")
        #expect(UInt64(littleEndian32(blob, facp + 140)) == address["DSDT"], "X_DSDT")
        #expect(littleEndian32(blob, facp + 112) & (1 << 20) != 0, "HW_REDUCED_ACPI")
        #expect(littleEndian32(blob, facp + 112) & (1 << 10) == 0, "no reset register given: RESET_REG_SUP clear")
        #expect(Array(blob[(facp + 244)..<(facp + 256)]) == [1, 8, 0, 1, 0x00, 0x06, 0, 0, 0, 0, 0, 0])
    }

    @Test func madtEntriesHaveTheirSpecifiedLayouts() throws {
        let madt = try MADT(entries: [
            .localAPIC(processorUID: 1, apicID: 2, enabled: true),
            .ioAPIC(id: 3, address: 0xFEC0_0000, gsiBase: 24),
            .interruptSourceOverride(source: 0, gsi: 2, flags: [.activeHigh, .edgeTriggered]),
            .localAPICNMI(processorUID: 0xFF, flags: .conforming, lint: 1),
            .localX2APIC(x2apicID: 300, processorUID: 300, enabled: false),
        ]).encoded(identity: TableIdentity())
        #expect(sum(madt[...]) == 0)
        #expect(littleEndian32(madt, 36) == 0xFEE0_0000)
        #expect(littleEndian32(madt, 40) == 1, "PCAT_COMPAT")
        #expect(Array(madt[44...]) == [
            0, 8, 1, 2, 1, 0, 0, 0,
            1, 12, 3, 0, 0x00, 0x00, 0xC0, 0xFE, 24, 0, 0, 0,
            2, 10, 0, 0, 2, 0, 0, 0, 0x05, 0x00,
            4, 6, 0xFF, 0, 0, 1,
            9, 16, 0, 0, 0x2C, 0x01, 0, 0, 0, 0, 0, 0, 0x2C, 0x01, 0, 0,
        ])
    }

    @Test func packageLengthUsesOneToFourBytesCountingItself() throws {
        #expect(try AML.packageLength(0) == [0x01])
        #expect(try AML.packageLength(62) == [0x3F])
        #expect(try AML.packageLength(63) == [0x41, 0x04], "65 bytes: two-byte form")
        #expect(try AML.packageLength(0xFFD) == [0x4F, 0xFF])
        #expect(try AML.packageLength(0xFFE) == [0x81, 0x00, 0x01], "4097 bytes: three-byte form")
        #expect(try AML.packageLength(0xFFF_FFFB) == [0xCF, 0xFF, 0xFF, 0xFF], "2^28 - 1 bytes: the largest")
        #expect(throws: ACPIError.self) { try AML.packageLength(0xFFF_FFFC) }
    }

    @Test func nameStringsPadSegmentsAndEncodePrefixes() throws {
        #expect(try AML.nameString("_SB") == Array("_SB_".utf8))
        #expect(try AML.nameString("\\_SB_.COM1") == [0x5C, 0x2E] + Array("_SB_COM1".utf8))
        #expect(try AML.nameString("^^A.B.C") == [0x5E, 0x5E, 0x2F, 3] + Array("A___B___C___".utf8))
        #expect(try AML.nameString("\\") == [0x5C, 0x00])
        for bad in ["", "TOOLONG", "1ABC", "a", "A..B", "COM-"] {
            #expect(throws: ACPIError.invalidName(bad), "\(bad)") { try AML.nameString(bad) }
        }
    }

    @Test func integersUseTheShortestEncoding() throws {
        #expect(try UInt64(0).aml() == [0x00])
        #expect(try UInt64(1).aml() == [0x01])
        #expect(try UInt64.max.aml() == [0xFF])
        #expect(try UInt64(0x0F).aml() == [0x0A, 0x0F])
        #expect(try UInt64(0x1234).aml() == [0x0B, 0x34, 0x12])
        #expect(try UInt64(0x1234_5678).aml() == [0x0C, 0x78, 0x56, 0x34, 0x12])
        #expect(try UInt64(0x1_0000_0000).aml() == [0x0E, 0, 0, 0, 0, 1, 0, 0, 0])
        #expect(try "ab".aml() == [0x0D, 0x61, 0x62, 0x00])
        #expect(throws: ACPIError.self) { try "é".aml() }
    }

    @Test func eisaIDsCompressAsTheSpecificationSays() throws {
        #expect(try AML.EISAID("PNP0501").value() == 0x0105_D041)
        #expect(try AML.EISAID("PNP0C0C").value() == 0x0C0C_D041)
        for bad in ["PNP050", "pnp0501", "PNP05G1", "1NP0501"] {
            #expect(throws: ACPIError.invalidEISAID(bad)) { try AML.EISAID(bad).value() }
        }
    }

    @Test func s5PackageMatchesWhatLinuxReads() throws {
        // Name (_S5_, Package (4) {5, 0, 0, 0}), as boot's DSDT has always had it.
        #expect(try AML.sleepState5(type: 5).aml() == [0x08, 0x5F, 0x53, 0x35, 0x5F, 0x12, 0x07, 0x04, 0x0A, 0x05, 0x00, 0x00, 0x00])
    }

    @Test func resourceTemplatesEncodeEachDescriptorAndTheEndTag() throws {
        let template = try AML.ResourceTemplate([
            .io(minimum: 0x3F8, maximum: 0x3F8, alignment: 8, length: 8),
            .irq([4]),
            .memory32Fixed(base: 0xD000_0000, length: 0x200),
            .extendedInterrupt([5], edgeTriggered: true),
        ]).aml()
        let contents: [UInt8] = [
            0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x08, 0x08,
            0x22, 0x10, 0x00,
            0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xD0, 0x00, 0x02, 0x00, 0x00,
            0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00,
            0x79, 0x00,
        ]
        #expect(template == [0x11, UInt8(contents.count + 3), 0x0A, UInt8(contents.count)] + contents)
        #expect(throws: ACPIError.self) { try AML.ResourceTemplate([.irq([16])]).aml() }
        #expect(throws: ACPIError.self) { try AML.ResourceTemplate([.extendedInterrupt([], edgeTriggered: true)]).aml() }
    }

    @Test func badIdentitiesAreRefusedNotTruncated() {
        #expect(throws: ACPIError.self) { try XSDT(entries: []).encoded(identity: TableIdentity(oemID: "TOOLONGID")) }
        #expect(throws: ACPIError.self) { try XSDT(entries: []).encoded(identity: TableIdentity(creatorID: "ÄBC")) }
        #expect(throws: ACPIError.self) { try DefinitionBlock(signature: "DSDTX", []).encoded(identity: TableIdentity()) }
        #expect(throws: ACPIError.self) { try AML.Method("M", arguments: 8, []).aml() }
    }
}
