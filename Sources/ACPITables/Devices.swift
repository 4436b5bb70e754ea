// The few devices a microVM's DSDT describes, as ready-made AML.

extension AML {
    /// `Name (_S5_, Package () {type, 0, 0, 0})`: the sleep type the OS writes to SLP_TYP to power off.
    public static func sleepState5(type: UInt8 = 5) -> any AMLObject {
        Name("_S5_", Package([Int(type), 0, 0, 0]))
    }

    /// A 16550 UART (`PNP0501`) with its eight ports and ISA IRQ.
    public static func serialPort(name: String = "COM1", uid: Int = 1, port: UInt16 = 0x3F8, irq: UInt8 = 4) -> any AMLObject {
        Device(name, [
            Name("_HID", EISAID("PNP0501")),
            Name("_UID", uid),
            Name("_CRS", ResourceTemplate([.io(minimum: port, maximum: port, alignment: 8, length: 8), .irq([irq])])),
        ])
    }

    /// A control-method power button (`PNP0C0C`); the FADT's PWR_BUTTON flag says it is one.
    public static func powerButton(name: String = "PWRB", uid: Int = 0) -> any AMLObject {
        Device(name, [Name("_HID", EISAID("PNP0C0C")), Name("_UID", uid)])
    }

    /// A virtio-mmio device (`LNRO0005`, which Linux's virtio_mmio driver binds to): its register
    /// window and its interrupt (a GSI, edge-triggered and active-high by default).
    public static func virtioMMIO(
        name: String, uid: Int, address: UInt32, size: UInt32 = 0x200, gsi: UInt32, edgeTriggered: Bool = true
    ) -> any AMLObject {
        Device(name, [
            Name("_HID", "LNRO0005"),
            Name("_UID", uid),
            Name("_CCA", 1),  // cache-coherent DMA
            Name("_CRS", ResourceTemplate([
                .memory32Fixed(base: address, length: size, writable: true),
                .extendedInterrupt([gsi], edgeTriggered: edgeTriggered),
            ])),
        ])
    }
}

/// A DSDT or SSDT: a definition block of AML.
public struct DefinitionBlock: ACPITable {
    public let signature: String
    public var objects: [any AMLObject]

    /// `signature` is "DSDT" or "SSDT".
    public init(signature: String, _ objects: [any AMLObject]) {
        self.signature = signature
        self.objects = objects
    }

    public static func dsdt(_ objects: [any AMLObject]) -> DefinitionBlock { DefinitionBlock(signature: "DSDT", objects) }
    public static func ssdt(_ objects: [any AMLObject]) -> DefinitionBlock { DefinitionBlock(signature: "SSDT", objects) }

    /// Revision 2: AML integers are 64 bits wide.
    public func encoded(identity: TableIdentity) throws(ACPIError) -> [UInt8] {
        var body: [UInt8] = []
        for object in objects { try object.encode(into: &body) }
        return try SystemDescriptionTable.encode(signature: signature, revision: 2, identity: identity, body: body)
    }
}
