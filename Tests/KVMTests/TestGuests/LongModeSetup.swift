import KVM

/// Writes the in-memory structures a test guest needs to start directly in 64-bit long mode,
/// and returns the register values that go with them. It only writes bytes; loading the
/// registers into a vCPU (`KVM_SET_SREGS`) is the vCPU layer's job.
///
/// What it writes (addresses configurable through ``Layout``):
/// - 4-level page tables identity-mapping the first 1 GiB with 2 MiB pages: one PML4 entry →
///   one PDPT entry → a page directory of 512 large-page entries.
/// - A GDT: null, 64-bit kernel code (0x08), kernel data (0x10), user data (0x18 | 3), 64-bit
///   user code (0x20 | 3), and a 16-byte 64-bit TSS descriptor (0x28). User data precedes user
///   code so that a later `sysret` (STAR-based selectors) works with this layout unchanged.
/// - A zeroed 104-byte TSS with its I/O-bitmap offset pointing past the end (no bitmap).
enum LongModeSetup {
    struct Layout {
        var gdt: GuestAddress = 0x500
        var tss: GuestAddress = 0x600
        /// The PML4; the PDPT and page directory occupy the next two pages.
        var pageTables: GuestAddress = 0x1000
        /// Set U/S in every page-table entry so that ring-3 code may run anywhere.
        var userAccessible = true
    }

    enum SetupError: Error, Equatable {
        case misalignedPageTables(GuestAddress)
    }

    /// A segment register's selector and descriptor, ready for `kvm_segment`.
    struct Segment: Equatable {
        var selector: UInt16
        var descriptor: SegmentDescriptor
    }

    /// The values to load into the vCPU.
    struct Registers: Equatable {
        var cr0: UInt64
        var cr3: UInt64
        var cr4: UInt64
        var efer: UInt64
        var gdtBase: GuestAddress
        var gdtLimit: UInt16
        var kernelCode: Segment
        var kernelData: Segment
        var userCode: Segment
        var userData: Segment
        /// For TR. Its descriptor type is 11 (busy 64-bit TSS), as VMX requires of a loaded TR;
        /// the copy in the GDT says 9 (available), so that guest code may still `ltr` it.
        var taskState: Segment
    }

    static let cr0ProtectionEnable: UInt64 = 1 << 0
    static let cr0MonitorCoprocessor: UInt64 = 1 << 1
    static let cr0ExtensionType: UInt64 = 1 << 4
    static let cr0NumericError: UInt64 = 1 << 5
    static let cr0WriteProtect: UInt64 = 1 << 16
    static let cr0Paging: UInt64 = 1 << 31
    static let cr4PhysicalAddressExtension: UInt64 = 1 << 5
    static let eferLongModeEnable: UInt64 = 1 << 8
    static let eferLongModeActive: UInt64 = 1 << 10

    static let pagePresent: UInt64 = 1 << 0
    static let pageWritable: UInt64 = 1 << 1
    static let pageUser: UInt64 = 1 << 2
    static let pageLarge: UInt64 = 1 << 7

    static let kernelCodeSelector: UInt16 = 0x08
    static let kernelDataSelector: UInt16 = 0x10
    static let userDataSelector: UInt16 = 0x18 | 3
    static let userCodeSelector: UInt16 = 0x20 | 3
    static let taskStateSelector: UInt16 = 0x28
    static let taskStateSize = 104

    static let kernelCode = SegmentDescriptor(
        base: 0, limit: 0xF_FFFF, type: 0xB, isCodeOrData: true, dpl: 0, long: true, defaultSize32: false, granularity: true)
    static let kernelData = SegmentDescriptor(
        base: 0, limit: 0xF_FFFF, type: 0x3, isCodeOrData: true, dpl: 0, long: false, defaultSize32: true, granularity: true)
    static let userData = SegmentDescriptor(
        base: 0, limit: 0xF_FFFF, type: 0x3, isCodeOrData: true, dpl: 3, long: false, defaultSize32: true, granularity: true)
    static let userCode = SegmentDescriptor(
        base: 0, limit: 0xF_FFFF, type: 0xB, isCodeOrData: true, dpl: 3, long: true, defaultSize32: false, granularity: true)

    /// Writes page tables, GDT and TSS into `memory` and returns the matching register values.
    static func write(
        into memory: inout some GuestPhysicalMemoryWriter, layout: Layout = Layout()
    ) throws -> Registers {
        guard layout.pageTables.isAligned(to: 4096) else { throw SetupError.misalignedPageTables(layout.pageTables) }
        let pml4 = layout.pageTables.rawValue
        let pdpt = pml4 + 0x1000
        let pageDirectory = pml4 + 0x2000
        let tableFlags = pagePresent | pageWritable | (layout.userAccessible ? pageUser : 0)

        var pml4Bytes = [UInt8](repeating: 0, count: 4096)
        pml4Bytes.replaceSubrange(0 ..< 8, with: [UInt8](littleEndian: pdpt | tableFlags))
        var pdptBytes = [UInt8](repeating: 0, count: 4096)
        pdptBytes.replaceSubrange(0 ..< 8, with: [UInt8](littleEndian: pageDirectory | tableFlags))
        var directoryBytes: [UInt8] = []
        directoryBytes.reserveCapacity(4096)
        for entry in 0 ..< UInt64(512) {
            directoryBytes += [UInt8](littleEndian: (entry << 21) | tableFlags | pageLarge)
        }
        try memory.write(bytes: pml4Bytes, at: GuestAddress(pml4))
        try memory.write(bytes: pdptBytes, at: GuestAddress(pdpt))
        try memory.write(bytes: directoryBytes, at: GuestAddress(pageDirectory))

        let tssBase = layout.tss.rawValue
        let tssDescriptor = SegmentDescriptor(
            base: UInt32(truncatingIfNeeded: tssBase), limit: UInt32(taskStateSize - 1), type: 0x9,
            isCodeOrData: false, dpl: 0, long: false, defaultSize32: false, granularity: false)
        let gdtEntries: [UInt64] = [
            0, kernelCode.encoded, kernelData.encoded, userData.encoded, userCode.encoded,
            tssDescriptor.encoded, tssBase >> 32,
        ]
        try memory.write(bytes: gdtEntries.flatMap { [UInt8](littleEndian: $0) }, at: layout.gdt)

        var tss = [UInt8](repeating: 0, count: taskStateSize)
        // I/O map base at offset 102: pointing at the limit means "no I/O permission bitmap".
        tss.replaceSubrange(102 ..< 104, with: [UInt8](littleEndian: UInt16(taskStateSize)))
        try memory.write(bytes: tss, at: layout.tss)

        var busyTaskState = tssDescriptor
        busyTaskState.type = 0xB
        return Registers(
            cr0: cr0ProtectionEnable | cr0MonitorCoprocessor | cr0ExtensionType | cr0NumericError
                | cr0WriteProtect | cr0Paging,
            cr3: pml4,
            cr4: cr4PhysicalAddressExtension,
            efer: eferLongModeEnable | eferLongModeActive,
            gdtBase: layout.gdt,
            gdtLimit: UInt16(gdtEntries.count * 8 - 1),
            kernelCode: Segment(selector: kernelCodeSelector, descriptor: kernelCode),
            kernelData: Segment(selector: kernelDataSelector, descriptor: kernelData),
            userCode: Segment(selector: userCodeSelector, descriptor: userCode),
            userData: Segment(selector: userDataSelector, descriptor: userData),
            taskState: Segment(selector: taskStateSelector, descriptor: busyTaskState))
    }
}
