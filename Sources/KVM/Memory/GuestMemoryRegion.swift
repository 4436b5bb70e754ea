/// One contiguous range of guest-physical memory backed by a host ``MemoryMapping``.
///
/// This is the runtime's description of a KVM memory slot, in plain Swift values; the VM layer
/// turns it into a `kvm_userspace_memory_region` (`slot`, `flags`, `guest_phys_addr`,
/// `memory_size`, `userspace_addr`) when it registers the region.
public struct GuestMemoryRegion: Sendable {
    /// The alignment KVM requires of a slot's guest-physical base and size: 4096 bytes.
    public static let pageSize: UInt64 = 4096

    /// Per-slot options.
    ///
    /// The bits are KVM's own (`KVM_MEM_LOG_DIRTY_PAGES` is bit 0, `KVM_MEM_READONLY` bit 1),
    /// so ``rawValue`` can be used as `kvm_userspace_memory_region.flags` as it is.
    public struct Flags: OptionSet, Sendable, Hashable {
        /// The flags as KVM's `kvm_userspace_memory_region.flags` bit mask.
        public let rawValue: UInt32

        /// Creates flags from a bit mask.
        ///
        /// - Parameter rawValue: The bit mask.
        public init(rawValue: UInt32) {
            self.rawValue = rawValue
        }

        /// `KVM_MEM_LOG_DIRTY_PAGES`: ask KVM to track writes to this slot, to be read back as
        /// a ``DirtyBitmap``.
        public static let logDirtyPages = Flags(rawValue: 1 << 0)

        /// `KVM_MEM_READONLY`: make the slot read-only *for the guest*: guest writes exit to the
        /// VMM as MMIO.
        /// The host can still write the memory through ``GuestMemory``.
        public static let readOnly = Flags(rawValue: 1 << 1)
    }

    /// The KVM memory slot number this region will occupy.
    public let slot: UInt32

    /// The guest-physical address of the region's first byte.
    public let guestBase: GuestAddress

    /// The host memory behind the region.
    public let mapping: MemoryMapping

    /// Options for the slot.
    public let flags: Flags

    /// Creates a region that maps `mapping` at `guestBase`.
    ///
    /// - Parameters:
    ///   - slot: The KVM slot number.
    ///   - guestBase: The guest-physical base; must be a multiple of ``pageSize``.
    ///   - mapping: The host memory; the region is as large as the mapping.
    ///   - flags: Options for the slot.
    /// - Throws: ``GuestMemoryError/misalignedRegion(_:)`` if `guestBase` is not page-aligned,
    ///   ``GuestMemoryError/rangeOverflow(start:length:)`` if the region would extend past
    ///   the top of the 64-bit address space.
    public init(
        slot: UInt32, guestBase: GuestAddress, mapping: MemoryMapping, flags: Flags = []
    ) throws(GuestMemoryError) {
        guard guestBase.isAligned(to: Self.pageSize) else {
            throw .misalignedRegion(guestBase)
        }
        let size = UInt64(mapping.byteCount)
        // The last byte must be addressable; a region ending exactly at 2^64 is allowed.
        guard guestBase.adding(size - 1) != nil else {
            throw .rangeOverflow(start: guestBase, length: size)
        }
        self.slot = slot
        self.guestBase = guestBase
        self.mapping = mapping
        self.flags = flags
    }

    /// The region's size in bytes (positive, a multiple of the host page size).
    public var size: UInt64 { UInt64(mapping.byteCount) }

    /// The guest-physical address of the region's last byte.
    ///
    /// The inclusive bound is used because a region may end exactly at 2^64, which has no
    /// `UInt64` representation as an exclusive end.
    public var lastAddress: GuestAddress {
        // Cannot overflow: init checked that guestBase + size - 1 fits.
        GuestAddress(guestBase.rawValue &+ (size &- 1))
    }

    /// The host virtual address of the region's first byte, for `userspace_addr`.
    public var hostAddress: UInt64 { mapping.hostAddress }

    /// Whether `address` lies inside the region.
    ///
    /// - Parameter address: A guest-physical address.
    /// - Returns: `true` if `guestBase <= address <= lastAddress`.
    public func contains(_ address: GuestAddress) -> Bool {
        address >= guestBase && address <= lastAddress
    }

    /// Whether this region and `other` share at least one address.
    ///
    /// - Parameter other: Another region.
    /// - Returns: `true` if the two ranges intersect.
    public func overlaps(_ other: GuestMemoryRegion) -> Bool {
        guestBase <= other.lastAddress && other.guestBase <= lastAddress
    }
}
