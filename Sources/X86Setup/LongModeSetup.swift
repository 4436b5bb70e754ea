#if arch(x86_64)
import KVM

/// Everything a hand-written guest needs to start directly in 64-bit mode, with user mode
/// available: it writes the tables into guest memory and returns the entry states that go with them.
///
/// What it writes (addresses from ``Layout``):
/// - 4-level page tables identity-mapping ``Layout/identityMappedSize`` bytes (default 1 GiB in
///   2 MiB pages), user-accessible unless ``Layout/userAccessible`` is false.
/// - A GDT: null, 64-bit kernel code (0x08), kernel data (0x10), user data (0x18 | 3), 64-bit user
///   code (0x20 | 3), and a 16-byte 64-bit TSS descriptor (0x28). User data precedes user code as
///   `sysret` requires (STAR[63:48] + 8 = SS, + 16 = CS).
/// - A 104-byte TSS without an I/O bitmap, RSP0 = ``Layout/kernelStackTop``.
///
/// ```swift
/// let setup = try LongModeSetup.write(into: vm.memory)
/// try vcpu.setCPUID(kvm.supportedCPUID())
/// try vcpu.setSpecialRegisters(setup.kernelEntry.applied(to: try vcpu.specialRegisters()))
/// try vcpu.setRegisters(EntryState.registers(rip: 0x8000, rsp: 0x7000))
/// ```
public enum LongModeSetup {
    public struct Layout: Hashable, Sendable {
        public var gdt: GuestAddress = 0x500
        public var taskState: GuestAddress = 0x600
        /// The PML4; further tables follow it (three in all for the default 1 GiB in 2 MiB pages).
        public var pageTables: GuestAddress = 0x1000
        /// How many bytes from 0 the tables identity-map (a multiple of ``pageSize``).
        public var identityMappedSize: UInt64 = 1 << 30
        public var pageSize: PageSize = .size2MiB
        /// Set U/S in the page tables so that CPL3 code may run anywhere.
        public var userAccessible = true
        /// The TSS's RSP0: the stack an interrupt from CPL3 switches to (0: none).
        public var kernelStackTop: UInt64 = 0
        /// Also map the identity-mapped bytes supervisor-only at ``PageTableBuilder/kernelTextBase``
        /// (-2 GiB, where Linux links its text), for guests that enter a kernel in the upper half
        /// (e.g. through `syscall`). At most 2 GiB.
        public var kernelTextAlias = false

        public init(
            gdt: GuestAddress = 0x500, taskState: GuestAddress = 0x600, pageTables: GuestAddress = 0x1000,
            identityMappedSize: UInt64 = 1 << 30, pageSize: PageSize = .size2MiB, userAccessible: Bool = true,
            kernelStackTop: UInt64 = 0, kernelTextAlias: Bool = false
        ) {
            self.gdt = gdt
            self.taskState = taskState
            self.pageTables = pageTables
            self.identityMappedSize = identityMappedSize
            self.pageSize = pageSize
            self.userAccessible = userAccessible
            self.kernelStackTop = kernelStackTop
            self.kernelTextAlias = kernelTextAlias
        }
    }

    /// What was written, and the entry states for CPL0 and CPL3.
    public struct Result: Hashable, Sendable {
        public var kernelEntry: EntryState
        public var userEntry: EntryState
        public var gdt: GlobalDescriptorTable
        /// Where the page tables end (the first byte after the last table).
        public var pageTablesEnd: GuestAddress
    }

    public static let kernelCodeSelector: UInt16 = 0x08
    public static let kernelDataSelector: UInt16 = 0x10
    public static let userDataSelector: UInt16 = 0x18 | 3
    public static let userCodeSelector: UInt16 = 0x20 | 3
    public static let taskStateSelector: UInt16 = 0x28

    /// CR0 for test guests: PE, MP, ET, NE, WP, PG (0x80010033).
    public static let controlRegister0: ControlRegister0 = [
        .protectionEnable, .monitorCoprocessor, .extensionType, .numericError, .writeProtect, .paging,
    ]

    /// Writes the page tables, GDT and TSS into `memory`.
    public static func write(into memory: GuestMemory, layout: Layout = Layout()) throws -> Result {
        var tables = try PageTableBuilder(at: layout.pageTables)
        try tables.identityMap(
            size: layout.identityMappedSize, pageSize: layout.pageSize, flags: layout.userAccessible ? [.kernel, .user] : .kernel)
        if layout.kernelTextAlias {
            try tables.map(
                virtual: PageTableBuilder.kernelTextBase, physical: 0, size: layout.identityMappedSize, pageSize: layout.pageSize)
        }
        let cr3 = try tables.write(into: memory)

        var gdt = GlobalDescriptorTable()
        let kernelCode = LoadedSegment(selector: gdt.append(.flatCode64()), descriptor: .flatCode64())
        let kernelData = LoadedSegment(selector: gdt.append(.flatData()), descriptor: .flatData())
        let userData = LoadedSegment(selector: gdt.append(.flatData(privilegeLevel: 3)), descriptor: .flatData(privilegeLevel: 3))
        let userCode = LoadedSegment(
            selector: gdt.append(.flatCode64(privilegeLevel: 3)), descriptor: .flatCode64(privilegeLevel: 3))
        let taskStateDescriptor = SystemSegmentDescriptor.taskState(base: layout.taskState.rawValue)
        let taskState = LoadedTaskState(selector: gdt.append(taskStateDescriptor), descriptor: taskStateDescriptor)
        try memory.write(bytes: gdt.bytes, at: layout.gdt)
        try memory.write(
            bytes: TaskStateSegment(privilegeStacks: [layout.kernelStackTop, 0, 0]).bytes, at: layout.taskState)

        let gdtRegister = gdt.register(base: layout.gdt.rawValue)
        var kernelEntry = EntryState.longMode(
            cr3: cr3, gdt: gdtRegister, code: kernelCode, data: kernelData, taskState: taskState)
        kernelEntry.cr0 = controlRegister0
        var userEntry = kernelEntry
        userEntry.code = userCode
        userEntry.data = userData
        return Result(
            kernelEntry: kernelEntry, userEntry: userEntry, gdt: gdt,
            pageTablesEnd: GuestAddress(layout.pageTables.rawValue + UInt64(tables.byteCount)))
    }
}
#endif
