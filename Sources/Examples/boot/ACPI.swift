// ACPI tables, enough for Linux to find every vCPU and to power off: RSDP → XSDT → FADT (hardware-
// reduced: no PM timer, SCI or legacy PIC; reset register = port 0x64 ← 0xFE; sleep control/status
// registers at ports 0x600/0x601) → DSDT (`\_S5_` only), and the MADT (one LAPIC per vCPU, the IOAPIC,
// LINT1 as NMI). Everything is one blob in the BIOS area, where Linux also scans for the RSDP.

struct ACPITables {
    static let oemID = Array("SWKVM ".utf8)
    static let oemTableID = Array("SWIFTKVM".utf8)
    static let creatorID = Array("SWFT".utf8)
    static let headerSize = 36
    static let localAPICAddress: UInt32 = 0xFEE0_0000
    static let ioAPICAddress: UInt32 = 0xFEC0_0000
    /// Hardware-reduced sleep registers (ACPI 5.0 FADT SLEEP_CONTROL_REG / SLEEP_STATUS_REG).
    static let sleepControlPort: UInt16 = 0x600
    static let sleepStatusPort: UInt16 = 0x601
    /// The reset register: a write of 0xFE to the i8042 command port.
    static let resetPort: UInt16 = 0x64
    static let resetValue: UInt8 = 0xFE
    /// The `\_S5_` sleep type; a write of (type << 2) | SLP_EN to the sleep control port powers off.
    static let s5SleepType: UInt8 = 5

    /// The tables as one blob, to be copied to `base`.
    let blob: [UInt8]
    /// Guest-physical address of the RSDP (= `base`).
    let rsdpAddress: UInt64
    /// Each table's signature and address, for `--verbose` and tests.
    let tables: [(signature: String, address: UInt64)]

    init(base: UInt64, cpuCount: Int) {
        var blob = ByteBuffer()
        var tables: [(String, UInt64)] = []
        func place(_ table: [UInt8], signature: String) -> UInt64 {
            let offset = Int(alignUp(UInt64(blob.count), 16))
            blob.put(table, at: offset)
            tables.append((signature, base + UInt64(offset)))
            return base + UInt64(offset)
        }
        let rsdpOffset = 0
        blob.put([UInt8](repeating: 0, count: 36), at: rsdpOffset)  // filled once the XSDT address is known
        let dsdt = place(Self.dsdt(), signature: "DSDT")
        let fadt = place(Self.fadt(dsdt: dsdt), signature: "FACP")
        let madt = place(Self.madt(cpuCount: cpuCount), signature: "APIC")
        let xsdt = place(Self.xsdt(entries: [fadt, madt]), signature: "XSDT")
        blob.put(Self.rsdp(xsdt: xsdt), at: rsdpOffset)
        self.blob = blob.bytes
        self.rsdpAddress = base
        self.tables = [("RSDP", base)] + tables
    }

    /// Two's complement of the byte sum, so that the whole range sums to 0.
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt8 {
        UInt8(truncatingIfNeeded: 0 &- bytes.reduce(UInt32(0)) { $0 &+ UInt32($1) })
    }

    /// Byte sum modulo 256 (0 for a valid table).
    static func byteSum(_ bytes: ArraySlice<UInt8>) -> UInt8 {
        UInt8(truncatingIfNeeded: bytes.reduce(UInt32(0)) { $0 &+ UInt32($1) })
    }

    /// A system description table: the 36-byte header, `body`, and the checksum at offset 9.
    static func table(_ signature: String, revision: UInt8, body: [UInt8]) -> [UInt8] {
        var table = ByteBuffer(count: headerSize)
        table.put(ascii: signature, at: 0)
        table.put(UInt32(headerSize + body.count), at: 4)
        table.put(revision, at: 8)
        table.put(oemID, at: 10)
        table.put(oemTableID, at: 16)
        table.put(UInt32(1), at: 24)  // OEM revision
        table.put(creatorID, at: 28)
        table.put(UInt32(1), at: 32)  // creator revision
        table.append(body)
        table.put(checksum(table.bytes[...]), at: 9)
        return table.bytes
    }

    /// RSDP, ACPI 2.0 form (36 bytes): checksum over the first 20, extended checksum over all.
    static func rsdp(xsdt: UInt64) -> [UInt8] {
        var rsdp = ByteBuffer(count: 36)
        rsdp.put(ascii: "RSD PTR ", at: 0)
        rsdp.put(oemID, at: 9)
        rsdp.put(UInt8(2), at: 15)  // revision: ACPI 2.0+
        rsdp.put(UInt32(36), at: 20)
        rsdp.put(xsdt, at: 24)
        rsdp.put(checksum(rsdp.bytes[0..<20]), at: 8)
        rsdp.put(checksum(rsdp.bytes[0..<36]), at: 32)
        return rsdp.bytes
    }

    static func xsdt(entries: [UInt64]) -> [UInt8] {
        var body = ByteBuffer()
        for entry in entries { body.append(entry) }
        return table("XSDT", revision: 1, body: body.bytes)
    }

    /// A Generic Address Structure for `width` bits of system I/O at `port`.
    static func ioAddress(_ port: UInt16, width: UInt8) -> [UInt8] {
        var gas = ByteBuffer(count: 12)
        gas.put(UInt8(1), at: 0)  // address space: system I/O
        gas.put(width, at: 1)
        gas.put(UInt8(1), at: 3)  // access size: byte
        gas.put(UInt64(port), at: 4)
        return gas.bytes
    }

    /// FADT revision 6 (276 bytes), hardware-reduced.
    static func fadt(dsdt: UInt64) -> [UInt8] {
        var body = ByteBuffer(count: 276 - headerSize)
        func at(_ offset: Int) -> Int { offset - headerSize }
        body.put(UInt32(truncatingIfNeeded: dsdt), at: at(40))
        // IAPC_BOOT_ARCH: VGA not present (bit 2), CMOS RTC not present (bit 5); no 8042 bit, so Linux
        // does not probe a keyboard controller (the i8042 model only takes the reset command).
        body.put(UInt16(1 << 2 | 1 << 5), at: at(109))
        // Flags: WBINVD (0), RESET_REG_SUP (10), HW_REDUCED_ACPI (20).
        body.put(UInt32(1 << 0 | 1 << 10 | 1 << 20), at: at(112))
        body.put(ioAddress(resetPort, width: 8), at: at(116))
        body.put(resetValue, at: at(128))
        body.put(UInt8(3), at: at(131))  // FADT minor version: 6.3
        body.put(dsdt, at: at(140))  // X_DSDT
        body.put(ioAddress(sleepControlPort, width: 8), at: at(244))
        body.put(ioAddress(sleepStatusPort, width: 8), at: at(256))
        body.put(ascii: "SWIFTKVM", at: at(268))  // hypervisor vendor identity
        return table("FACP", revision: 6, body: body.bytes)
    }

    /// DSDT: `Name (_S5, Package (4) { 5, 0, 0, 0 })`, so Linux offers ACPI power-off.
    static func dsdt() -> [UInt8] {
        let s5: [UInt8] = [0x08, 0x5F, 0x53, 0x35, 0x5F, 0x12, 0x07, 0x04, 0x0A, s5SleepType, 0x00, 0x00, 0x00]
        return table("DSDT", revision: 2, body: s5)
    }

    /// MADT: LAPIC address, PCAT_COMPAT, one enabled LAPIC per vCPU (APIC id = index), the IOAPIC
    /// (id = cpuCount, GSI 0-23) and LINT1 = NMI on every processor.
    static func madt(cpuCount: Int) -> [UInt8] {
        var body = ByteBuffer()
        body.append(localAPICAddress)
        body.append(UInt32(1))  // PCAT_COMPAT: there is an 8259 (KVM's in-kernel PIC)
        for cpu in 0..<cpuCount {
            body.append([0, 8, UInt8(cpu), UInt8(cpu)])  // type 0, length 8, ACPI processor UID, APIC id
            body.append(UInt32(1))  // enabled
        }
        body.append([1, 12, UInt8(cpuCount), 0])  // type 1, length 12, IOAPIC id, reserved
        body.append(ioAPICAddress)
        body.append(UInt32(0))  // GSI base
        body.append([4, 6, 0xFF])  // type 4 (LAPIC NMI), length 6, all processors
        body.append(UInt16(0))  // flags: conforming
        body.append(UInt8(1))  // LINT1
        return table("APIC", revision: 4, body: body.bytes)
    }
}
