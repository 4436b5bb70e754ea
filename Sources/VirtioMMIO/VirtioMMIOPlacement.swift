/// Where a virtio-mmio device sits in the machine, and how the guest learns about it.
///
/// The VMM chooses the window (4 KiB, page-aligned, outside RAM) and a GSI, then:
/// - registers the transport on its MMIO `Bus` at ``base`` for ``size`` bytes;
/// - creates an irqfd for ``gsi`` (`VirtualMachine.makeIRQFD(gsi:)`) and passes it to the transport;
/// - registers the transport's queue-notify eventfds (``VirtioMMIOTransport/registerIOEventFDs(on:base:)``);
/// - announces the device on the kernel command line (``kernelCommandLineFragment``) or in the DSDT
///   (ACPITables' `AML.virtioMMIO(name:uid:address:size:gsi:)`, Linux HID `LNRO0005`).
public struct VirtioMMIOPlacement: Sendable, Hashable {
    /// The window's guest-physical base.
    public let base: UInt64
    /// The window's size (``VirtioMMIOTransport/windowSize``).
    public let size: UInt64
    /// The interrupt line (a GSI of the in-kernel IOAPIC on x86; Linux uses it as an edge-triggered IRQ).
    public let gsi: UInt32

    public init(base: UInt64, size: UInt64 = VirtioMMIOTransport.windowSize, gsi: UInt32) {
        self.base = base
        self.size = size
        self.gsi = gsi
    }

    /// The device's `virtio_mmio.device=` kernel parameter (Linux's `CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES`),
    /// e.g. `virtio_mmio.device=4K@0xd0000000:5`.
    public var kernelCommandLineFragment: String {
        let sizeText = size % 1024 == 0 ? "\(size / 1024)K" : "\(size)"
        return "virtio_mmio.device=\(sizeText)@0x\(String(base, radix: 16)):\(gsi)"
    }

    /// `count` placements one window apart from `base`, with GSIs from `firstGSI` (a microVM's usual
    /// layout: e.g. base 0xD000_0000, GSIs 5, 6, ...).
    public static func consecutive(count: Int, base: UInt64, firstGSI: UInt32) -> [VirtioMMIOPlacement] {
        (0 ..< count).map { index in
            VirtioMMIOPlacement(base: base + UInt64(index) * VirtioMMIOTransport.windowSize, gsi: firstGSI + UInt32(index))
        }
    }

    /// `count` placements one window apart from `base`, taking their GSIs in order from `gsis` (the
    /// lines the machine's other devices leave free, e.g. skipping the RTC's 8 and the ACPI SCI's 9),
    /// or nil when `gsis` has fewer than `count`.
    public static func consecutive(count: Int, base: UInt64, gsis: [UInt32]) -> [VirtioMMIOPlacement]? {
        guard count <= gsis.count else { return nil }
        return (0 ..< count).map { index in
            VirtioMMIOPlacement(base: base + UInt64(index) * VirtioMMIOTransport.windowSize, gsi: gsis[index])
        }
    }
}
