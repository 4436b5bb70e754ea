import KVMBindings
import Synchronization
import SystemPackage

/// A VM (`KVM_CREATE_VM`): guest memory slots, interrupt controllers and routing, eventfds, devices,
/// the clock, and the vCPUs.
///
/// Sendable: every operation is an ioctl on the VM fd (which the kernel serializes) or touches the
/// memory table under a lock, so vCPU threads may share one VM.
public final class VirtualMachine: Sendable {
    /// The system handle this VM came from (kept alive as long as the VM).
    public let system: KVMSystem
    let owned: OwnedFileDescriptor<KVMVMKind>
    private let memoryTable = Mutex(GuestMemory())
    /// Eventfds the runtime created for irqfd/ioeventfd, kept alive while registered.
    private let ownedEventFDs = Mutex<[ObjectIdentifier: EventFD]>([:])
    /// Bytes of each vCPU's dirty ring, once `enableDirtyRing(bytes:)` succeeded; 0 before.
    let dirtyRingBytes = Atomic<Int>(0)
    /// Whether the kernel has `KVM_SET_USER_MEMORY_REGION2` (`KVM_CAP_USER_MEMORY2`).
    public let hasMemoryRegion2: Bool

    /// The VM fd, for ioctls this type does not wrap.
    public var fileDescriptor: KVMVMFD { owned.typed }

    init(system: KVMSystem, fileDescriptor: KVMVMFD) {
        self.system = system
        owned = OwnedFileDescriptor(fileDescriptor)
        hasMemoryRegion2 = ((try? fileDescriptor.checkExtension(.userMemory2)) ?? 0) > 0
    }

    func retainEventFD(_ eventfd: EventFD) { ownedEventFDs.withLock { $0[ObjectIdentifier(eventfd)] = eventfd } }
    func releaseEventFD(_ eventfd: EventFD) { ownedEventFDs.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(eventfd)) } }

    /// `KVM_CHECK_EXTENSION` on the VM (some answers depend on the VM type).
    public func checkExtension(_ capability: KVMCapability) throws(KVMRuntimeError) -> Int {
        Int(try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.checkExtension(capability) })
    }

    /// `KVM_CHECK_EXTENSION` on the VM, failing with `.capabilityMissing` when the answer is 0.
    @discardableResult
    public func require(_ capability: KVMCapability) throws(KVMRuntimeError) -> Int {
        let value = try checkExtension(capability)
        guard value > 0 else {
            throw .missing(capability)
        }
        return value
    }

    // MARK: Memory

    /// A snapshot of the guest memory table: every region this VM maps.
    public var memory: GuestMemory { memoryTable.withLock { $0 } }

    /// Allocates `size` bytes of host memory as `backing` says (anonymous by default; memfd,
    /// hugetlbfs, transparent huge pages, populated) and maps them at `guestAddress` in `slot`
    /// (`KVM_SET_USER_MEMORY_REGION`).
    @discardableResult
    public func mapMemory(
        slot: UInt32, at guestAddress: GuestAddress, size: Int, flags: GuestMemoryRegion.Flags = [],
        backing: MemoryBacking = .anonymous
    ) throws(KVMRuntimeError) -> GuestMemoryRegion {
        let mapping = try MemoryMapping(byteCount: size, backing: backing)
        let region: GuestMemoryRegion
        do {
            region = try GuestMemoryRegion(slot: slot, guestBase: guestAddress, mapping: mapping, flags: flags)
        } catch {
            throw .guestMemory(error)
        }
        try addMemoryRegion(region)
        return region
    }

    /// Maps an existing region (`KVM_SET_USER_MEMORY_REGION`), after checking it overlaps no other.
    public func addMemoryRegion(_ region: GuestMemoryRegion) throws(KVMRuntimeError) {
        try memoryTable.withLock { (table) throws(KVMRuntimeError) in
            var updated = table
            do throws(GuestMemoryError) {
                try updated.insert(region)
            } catch {
                throw .guestMemory(error)
            }
            try setUserMemoryRegion(
                slot: region.slot, flags: region.flags.rawValue, guestAddress: region.guestBase.rawValue,
                size: region.size, hostAddress: region.hostAddress)
            table = updated
        }
    }

    /// Changes a mapped slot's flags, e.g. to start or stop dirty logging (`KVM_SET_USER_MEMORY_REGION`).
    public func setMemoryRegionFlags(slot: UInt32, _ flags: GuestMemoryRegion.Flags) throws(KVMRuntimeError) {
        try memoryTable.withLock { (table) throws(KVMRuntimeError) in
            guard let old = table.regions.first(where: { $0.slot == slot }) else {
                throw .guestMemory(.slotNotMapped(slot))
            }
            let region: GuestMemoryRegion
            do throws(GuestMemoryError) {
                region = try GuestMemoryRegion(slot: slot, guestBase: old.guestBase, mapping: old.mapping, flags: flags)
            } catch {
                throw .guestMemory(error)
            }
            try setUserMemoryRegion(
                slot: slot, flags: flags.rawValue, guestAddress: old.guestBase.rawValue, size: old.size,
                hostAddress: old.hostAddress)
            _ = table.removeRegion(slot: slot)
            do throws(GuestMemoryError) {
                try table.insert(region)
            } catch {
                throw .guestMemory(error)
            }
        }
    }

    /// Unmaps a slot from the guest (`KVM_SET_USER_MEMORY_REGION` with size 0) and returns its region.
    @discardableResult
    public func removeMemoryRegion(slot: UInt32) throws(KVMRuntimeError) -> GuestMemoryRegion? {
        try memoryTable.withLock { (table) throws(KVMRuntimeError) -> GuestMemoryRegion? in
            guard let region = table.regions.first(where: { $0.slot == slot }) else { return nil }
            try setUserMemoryRegion(slot: slot, flags: 0, guestAddress: region.guestBase.rawValue, size: 0, hostAddress: 0)
            return table.removeRegion(slot: slot)
        }
    }

    /// Uses `KVM_SET_USER_MEMORY_REGION2` where the kernel has it, else `KVM_SET_USER_MEMORY_REGION`.
    private func setUserMemoryRegion(slot: UInt32, flags: UInt32, guestAddress: UInt64, size: UInt64, hostAddress: UInt64)
        throws(KVMRuntimeError)
    {
        if hasMemoryRegion2 {
            var region = KVMUserspaceMemoryRegion2()
            region.slot = slot
            region.flags = flags
            region.guestPhysAddr = guestAddress
            region.memorySize = size
            region.userspaceAddr = hostAddress
            try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setUserMemoryRegion2(region) }
            return
        }
        var region = KVMUserspaceMemoryRegion()
        region.slot = slot
        region.flags = flags
        region.guestPhysAddr = guestAddress
        region.memorySize = size
        region.userspaceAddr = hostAddress
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setUserMemoryRegion(region) }
    }

    /// `KVM_GET_DIRTY_LOG`: the pages of `slot` written since the last call (the kernel then clears
    /// them, unless manual protection is enabled). The slot must have `.logDirtyPages`.
    public func dirtyLog(slot: UInt32) throws(KVMRuntimeError) -> DirtyBitmap {
        guard let region = memory.regions.first(where: { $0.slot == slot }) else {
            throw .guestMemory(.slotNotMapped(slot))
        }
        let pages = Int(region.size / GuestMemoryRegion.pageSize)
        var words = [UInt64](repeating: 0, count: DirtyBitmap.wordCount(forPages: pages))
        var failure: KVMIoctlError?
        words.withUnsafeMutableBytes { bytes in
            var log = KVMDirtyLog()
            log.slot = slot
            // SAFETY: `bytes` holds one bit per page of the slot, rounded up to 64-bit words, as the
            // kernel requires, and stays alive for the duration of the ioctl.
            log.dirtyBitmap = UInt(bitPattern: bytes.baseAddress)
            do throws(KVMIoctlError) {
                try fileDescriptor.getDirtyLog(&log)
            } catch {
                failure = error
            }
        }
        if let failure { throw KVMRuntimeError(failure) }
        return DirtyBitmap(words: words)
    }

    // MARK: x86 platform setup

    #if arch(x86_64)
    /// `KVM_SET_TSS_ADDR`: three pages of guest-physical space KVM uses on Intel for real mode.
    public func setTSSAddress(_ address: GuestAddress) throws(KVMRuntimeError) {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setTSSAddr(UInt(address.rawValue)) }
    }

    /// `KVM_SET_IDENTITY_MAP_ADDR` (needs `KVM_CAP_SET_IDENTITY_MAP_ADDR`): one page KVM uses on Intel.
    public func setIdentityMapAddress(_ address: GuestAddress) throws(KVMRuntimeError) {
        try require(.setIdentityMapAddr)
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setIdentityMapAddr(address.rawValue) }
    }

    /// `KVM_CREATE_PIT2`: the in-kernel i8254 timer (needs `KVM_CAP_PIT2`).
    public func createPIT2(options: PITOptions = []) throws(KVMRuntimeError) {
        try require(.pit2)
        var config = KVMPITConfig()
        config.flags = options.rawValue
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.createPIT2(config) }
    }

    @available(*, deprecated, renamed: "createPIT2(options:)")
    public func createPIT2(flags: UInt32) throws(KVMRuntimeError) {
        try createPIT2(options: PITOptions(rawValue: flags))
    }
    #endif

    // MARK: Interrupts

    /// `KVM_CREATE_IRQCHIP`: the in-kernel interrupt controllers (needs `KVM_CAP_IRQCHIP`): on x86 the
    /// PIC, IOAPIC and local APICs.
    public func createIRQChip() throws(KVMRuntimeError) {
        try require(.irqchip)
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.createIRQChip() }
    }

    /// `KVM_IRQ_LINE`: raises or lowers a GSI of the in-kernel irqchip.
    public func setIRQLine(_ irq: UInt32, level: Bool) throws(KVMRuntimeError) {
        var line = KVMIRQLevel()
        line.irq = irq
        line.level = level ? 1 : 0
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.irqLine(line) }
    }

    /// `KVM_SIGNAL_MSI` (needs `KVM_CAP_SIGNAL_MSI`): injects a message-signalled interrupt, a write
    /// of `data` to `address`. A `deviceID` sets `KVM_MSI_VALID_DEVID` (needed by the arm64 ITS).
    /// Returns 1 when delivered, 0 when the guest blocked it.
    @discardableResult
    public func signalMSI(address: GuestAddress, data: UInt32, deviceID: UInt32? = nil) throws(KVMRuntimeError) -> Int {
        try require(.signalMSI)
        var msi = KVMMSI()
        msi.addressLo = UInt32(truncatingIfNeeded: address.rawValue)
        msi.addressHi = UInt32(truncatingIfNeeded: address.rawValue >> 32)
        msi.data = data
        if let deviceID {
            msi.flags = KVMConstants.msiValidDevid
            msi.devid = deviceID
        }
        return Int(try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.signalMSI(msi) })
    }

    /// `KVM_SET_GSI_ROUTING` (needs `KVM_CAP_IRQ_ROUTING`): replaces the whole GSI routing table.
    public func setGSIRouting(_ entries: [KVMIRQRoutingEntry]) throws(KVMRuntimeError) {
        try require(.irqRouting)
        let table = KVMFlexibleArray<KVMIRQRouting>(elements: entries)
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setGSIRouting(table) }
    }

    /// `KVM_ENABLE_CAP` on the VM.
    @discardableResult
    public func enableCapability(_ capability: KVMCapability, flags: UInt32 = 0, arguments: [UInt64] = [])
        throws(KVMRuntimeError) -> Int
    {
        let request = KVMEnableCap(capability, flags: flags, arguments: arguments)
        return Int(try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.enableCap(request) })
    }

    /// `KVM_GET_CLOCK` (needs `KVM_CAP_ADJUST_CLOCK`): the guest's kvmclock.
    public func clock() throws(KVMRuntimeError) -> KVMClockData {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getClock() }
    }

    /// `KVM_SET_CLOCK` (needs `KVM_CAP_ADJUST_CLOCK`).
    public func setClock(_ clock: KVMClockData) throws(KVMRuntimeError) {
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.setClock(clock) }
    }

    /// `KVM_REGISTER_COALESCED_MMIO` (needs `KVM_CAP_COALESCED_MMIO`, or `KVM_CAP_COALESCED_PIO` for
    /// a port): writes to the `size` bytes at `address` are queued in the coalesced ring instead of
    /// exiting.
    public func registerCoalescedZone(at address: IOAddress, size: UInt32) throws(KVMRuntimeError) {
        try require(address.isPort ? .coalescedPIO : .coalescedMMIO)
        let zone = Self.zone(at: address, size: size)
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.registerCoalescedMMIO(zone) }
    }

    /// `KVM_UNREGISTER_COALESCED_MMIO`.
    public func unregisterCoalescedZone(at address: IOAddress, size: UInt32) throws(KVMRuntimeError) {
        let zone = Self.zone(at: address, size: size)
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.unregisterCoalescedMMIO(zone) }
    }

    private static func zone(at address: IOAddress, size: UInt32) -> KVMCoalescedMMIOZone {
        var zone = KVMCoalescedMMIOZone()
        zone.addr = address.rawAddress
        zone.size = size
        zone.pio = address.isPort ? 1 : 0
        return zone
    }

    // MARK: vCPUs and devices

    /// `KVM_CREATE_VCPU` and the mapping of its `kvm_run`. Call it on the thread that will run the vCPU,
    /// or let ``spawnVCPU(id:name:stackSize:_:)`` start that thread and create it there.
    public func createVCPU(id: UInt) throws(KVMRuntimeError) -> VCPU {
        let fd = try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.createVCPU(id) }
        return try VCPU(vm: self, id: id, fileDescriptor: fd)
    }

    /// `KVM_CREATE_DEVICE` (needs `KVM_CAP_DEVICE_CTRL`): an in-kernel device such as a VFIO bridge.
    public func createDevice(_ type: KVMDeviceType, testOnly: Bool = false) throws(KVMRuntimeError) -> KVMDevice? {
        var request = KVMCreateDevice()
        request.type = type.rawValue
        request.flags = testOnly ? UInt32(KVMConstants.createDeviceTest) : 0
        try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.createDevice(&request) }
        return testOnly ? nil : KVMDevice(vm: self, fileDescriptor: KVMDeviceFD(rawValue: CInt(bitPattern: request.fd)))
    }
}

// MARK: Earlier spellings

extension VirtualMachine {
    @available(*, deprecated, renamed: "registerCoalescedZone(at:size:)")
    public func registerCoalescedZone(address: UInt64, size: UInt32, pio: Bool = false) throws(KVMRuntimeError) {
        try registerCoalescedZone(at: try Self.ioAddress(address, pio: pio), size: size)
    }

    @available(*, deprecated, renamed: "unregisterCoalescedZone(at:size:)")
    public func unregisterCoalescedZone(address: UInt64, size: UInt32, pio: Bool = false) throws(KVMRuntimeError) {
        try unregisterCoalescedZone(at: try Self.ioAddress(address, pio: pio), size: size)
    }

    private static func ioAddress(_ address: UInt64, pio: Bool) throws(KVMRuntimeError) -> IOAddress {
        guard pio else { return .memory(GuestAddress(address)) }
        guard let port = UInt16(exactly: address) else {
            throw .invalidArgument(operation: "KVM_REGISTER_COALESCED_MMIO", reason: "port 0x\(String(address, radix: 16)) is above 0xffff")
        }
        return .port(port)
    }
}
