/// One entry of a `ResourceTemplate`: the resources a device decodes (`_CRS`).
public enum ResourceDescriptor: Sendable, Hashable {
    /// `IO (Decode16, minimum, maximum, alignment, length)`: an I/O port range.
    case io(minimum: UInt16, maximum: UInt16, alignment: UInt8, length: UInt8)
    /// `IRQNoFlags () {irqs}`: ISA IRQs (0-15), edge-triggered, active high.
    case irq([UInt8])
    /// `Memory32Fixed (ReadWrite|ReadOnly, base, length)`.
    case memory32Fixed(base: UInt32, length: UInt32, writable: Bool = true)
    /// `Interrupt (ResourceConsumer, Edge|Level, ActiveHigh|ActiveLow, Exclusive|Shared) {gsis}`: GSIs.
    case extendedInterrupt([UInt32], edgeTriggered: Bool, activeLow: Bool = false, shared: Bool = false)

    /// An I/O port range of `length` ports at `port`.
    public static func ioPorts(_ port: UInt16, length: UInt8) -> ResourceDescriptor {
        .io(minimum: port, maximum: port, alignment: 1, length: length)
    }

    func encode() throws(ACPIError) -> [UInt8] {
        var writer = ByteWriter()
        switch self {
        case .io(let minimum, let maximum, let alignment, let length):
            writer.append([0x47, 0x01])  // small item 8, length 7; decodes 16 address bits
            writer.append(minimum)
            writer.append(maximum)
            writer.append([alignment, length])
        case .irq(let irqs):
            guard !irqs.isEmpty, irqs.allSatisfy({ $0 < 16 }) else { throw .invalidValue("IRQ descriptor \(irqs): IRQs are 0-15") }
            writer.append(UInt8(0x22))  // small item 4, length 2: no flags byte
            writer.append(irqs.reduce(UInt16(0)) { $0 | 1 << UInt16($1) })
        case .memory32Fixed(let base, let length, let writable):
            writer.append([0x86, 0x09, 0x00, writable ? 1 : 0])
            writer.append(base)
            writer.append(length)
        case .extendedInterrupt(let gsis, let edge, let activeLow, let shared):
            guard !gsis.isEmpty, gsis.count <= 255 else { throw .invalidValue("an interrupt descriptor needs 1-255 interrupts") }
            writer.append(UInt8(0x89))
            writer.append(UInt16(2 + 4 * gsis.count))
            writer.append(UInt8(0x01 | (edge ? 0x02 : 0) | (activeLow ? 0x04 : 0) | (shared ? 0x08 : 0)))  // consumer
            writer.append(UInt8(gsis.count))
            for gsi in gsis { writer.append(gsi) }
        }
        return writer.bytes
    }
}

extension AML {
    /// `ResourceTemplate () { descriptors }`: a buffer of resource descriptors with its end tag.
    public struct ResourceTemplate: AMLObject {
        public let descriptors: [ResourceDescriptor]
        public init(_ descriptors: [ResourceDescriptor]) { self.descriptors = descriptors }
        public func encode(into bytes: inout [UInt8]) throws(ACPIError) {
            var contents: [UInt8] = []
            for descriptor in descriptors { contents += try descriptor.encode() }
            contents += [0x79, 0x00]  // end tag; checksum 0: "treat as correct"
            try AML.Buffer(contents).encode(into: &bytes)
        }
    }
}
