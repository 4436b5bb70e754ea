/// One address space's devices (port I/O or MMIO), found by address with a binary search.
///
/// ## Concurrency
///
/// A `Bus` is a value: build it during machine setup with ``register(_:at:)``, then hand the finished
/// value to every vCPU thread. The registration table is immutable from then on (each thread holds
/// an identical copy of a sorted array, which Swift shares rather than copies), so lookups take no lock
/// and never contend. Devices synchronise their own state. To change the devices of a running
/// machine, build a new `Bus` and hand it over the way your VMM hands over any other value (for
/// example under the lock that guards the vCPU threads' shared state).
///
/// ## Accesses a device does not claim
///
/// An access that no device's range holds, or that starts in a range and runs past its end, reaches
/// no device: a read gets all-ones (what a PC's floating bus returns) and a write is dropped. Both
/// outcomes say so (``BusRead/unclaimed(_:)``, ``BusWrite/unclaimed(_:)``), so a VMM can count or
/// log them.
public struct Bus: Sendable {
    /// A registered device and its range.
    public struct Registration: Sendable {
        public let range: BusRange
        public let device: any BusDevice
    }

    /// The registrations, sorted by address; ranges never overlap.
    public private(set) var registrations: [Registration] = []
    /// The last address of the address space (0xFFFF for port I/O).
    public let addressLimit: UInt64

    /// An empty bus whose addresses end at `addressLimit`.
    public init(addressLimit: UInt64 = .max) {
        self.addressLimit = addressLimit
    }

    /// An empty port I/O bus (addresses 0-0xFFFF).
    public static func portIO() -> Bus { Bus(addressLimit: 0xFFFF) }

    /// An empty MMIO bus (the whole 64-bit guest-physical space).
    public static func mmio() -> Bus { Bus() }

    /// Registers `device` for the addresses of `range`.
    ///
    /// - Throws: ``BusError/overlap(_:existing:)`` when another device holds any of them,
    ///   ``BusError/outsideAddressSpace(_:limit:)`` when the range passes ``addressLimit``.
    public mutating func register(_ device: any BusDevice, at range: BusRange) throws(BusError) {
        guard range.last <= addressLimit else { throw .outsideAddressSpace(range, limit: addressLimit) }
        let index = insertionIndex(for: range.base)
        if index > 0, registrations[index - 1].range.overlaps(range) {
            throw .overlap(range, existing: registrations[index - 1].range)
        }
        if index < registrations.count, registrations[index].range.overlaps(range) {
            throw .overlap(range, existing: registrations[index].range)
        }
        registrations.insert(Registration(range: range, device: device), at: index)
    }

    /// Registers `device` for `size` addresses from `base`.
    ///
    /// - Throws: as ``BusRange/init(base:size:)`` and ``register(_:at:)``.
    public mutating func register(_ device: any BusDevice, base: UInt64, size: UInt64) throws(BusError) {
        try register(device, at: try BusRange(base: base, size: size))
    }

    /// Removes the device registered at exactly `range`; returns it, or nil if there is none.
    @discardableResult
    public mutating func unregister(_ range: BusRange) -> (any BusDevice)? {
        guard let index = registrations.firstIndex(where: { $0.range == range }) else { return nil }
        return registrations.remove(at: index).device
    }

    /// The registration whose range holds `address`, or nil.
    public func registration(containing address: UInt64) -> Registration? {
        // The last registration starting at or below `address`.
        let index = insertionIndex(for: address &+ 1, orEqualTo: address == .max)
        guard index > 0 else { return nil }
        let candidate = registrations[index - 1]
        return candidate.range.contains(address) ? candidate : nil
    }

    /// A guest read of `size` bytes at `address`.
    public func read(at address: UInt64, size: Int) -> BusRead {
        switch route(address, size) {
        case .device(let device, let offset):
            return .claimed(device.read(at: offset, size: size) & BusRead.mask(size))
        case .unclaimed(let unclaimed):
            return .unclaimed(unclaimed)
        }
    }

    /// A guest write of the low `size` bytes of `value` at `address`.
    public func write(at address: UInt64, size: Int, value: UInt64) -> BusWrite {
        switch route(address, size) {
        case .device(let device, let offset):
            return .claimed(device.write(at: offset, size: size, value: value & BusRead.mask(size)))
        case .unclaimed(let unclaimed):
            return .unclaimed(unclaimed)
        }
    }

    // MARK: Lookup

    private enum Route {
        case device(any BusDevice, offset: UInt64)
        case unclaimed(UnclaimedAccess)
    }

    private func route(_ address: UInt64, _ size: Int) -> Route {
        // 1-8 bytes: usually 1, 2, 4 or 8, but KVM splits an MMIO access that crosses a page boundary
        // into fragments of any length.
        guard (1...8).contains(size) else {
            return .unclaimed(UnclaimedAccess(address: address, size: size, reason: .invalidSize))
        }
        guard let registration = registration(containing: address) else {
            return .unclaimed(UnclaimedAccess(address: address, size: size, reason: .noDevice))
        }
        // The access's last byte must be in the range too (no overflow: `address` ≤ `last`, size ≤ 8).
        guard registration.range.last - address >= UInt64(size - 1) else {
            return .unclaimed(UnclaimedAccess(address: address, size: size, reason: .crossesRangeEnd(registration.range)))
        }
        return .device(registration.device, offset: address - registration.range.base)
    }

    /// The index of the first registration whose base is above `address` (or, with `orEqualTo`, at or
    /// above: used when `address + 1` wrapped to 0).
    private func insertionIndex(for address: UInt64, orEqualTo wrapped: Bool = false) -> Int {
        if wrapped { return registrations.count }
        var low = 0, high = registrations.count
        while low < high {
            let middle = (low + high) / 2
            if registrations[middle].range.base < address { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// What a guest read on a ``Bus`` got.
public enum BusRead: Sendable, Hashable {
    /// A device answered with this value (already cut to the access size).
    case claimed(UInt64)
    /// No device answered: the guest reads all-ones.
    case unclaimed(UnclaimedAccess)

    /// The value the guest sees: the device's, or all-ones for the access size.
    public var value: UInt64 {
        switch self {
        case .claimed(let value): value
        case .unclaimed(let access): Self.mask(access.size)
        }
    }

    /// All-ones in the low `size` bytes.
    static func mask(_ size: Int) -> UInt64 { size >= 8 ? .max : (1 << (8 * UInt64(max(size, 0)))) - 1 }
}

/// What a guest write on a ``Bus`` did.
public enum BusWrite: Sendable, Hashable {
    /// A device took the write; it may ask something of the machine.
    case claimed(MachineRequest?)
    /// No device took it: the write is dropped.
    case unclaimed(UnclaimedAccess)

    /// The machine request the write made, if any.
    public var request: MachineRequest? {
        if case .claimed(let request) = self { return request }
        return nil
    }
}

/// An access no device took, and why.
public struct UnclaimedAccess: Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        /// No device's range holds the address.
        case noDevice
        /// The access starts inside this range but its last byte lies past the range's end.
        case crossesRangeEnd(BusRange)
        /// The size is not 1 to 8 bytes.
        case invalidSize
    }

    public let address: UInt64
    public let size: Int
    public let reason: Reason

    public init(address: UInt64, size: Int, reason: Reason) {
        self.address = address
        self.size = size
        self.reason = reason
    }

    public var description: String {
        let at = "\(size)-byte access at 0x\(String(address, radix: 16))"
        switch reason {
        case .noDevice: return "\(at): no device"
        case .crossesRangeEnd(let range): return "\(at): runs past the end of the device at \(range)"
        case .invalidSize: return "\(at): invalid access size"
        }
    }
}
