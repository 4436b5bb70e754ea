import KVM

/// A machine's two buses, port I/O and MMIO, and the code that answers a vCPU's `KVM_EXIT_IO` and
/// `KVM_EXIT_MMIO` exits through them.
///
/// Like ``Bus``, a value: register devices during setup, then give each vCPU thread the finished
/// value and call ``handle(_:on:)-(PortIO,_)`` or ``handle(_:on:)-(MMIOAccess,_)`` from its run loop:
///
/// ```swift
/// switch try vcpu.run() {
/// case .io(let io):
///     if case .request(let request) = try buses.handle(io, on: vcpu) { machine.end(request) }
/// case .mmio(let access):
///     if case .request(let request) = try buses.handle(access, on: vcpu) { machine.end(request) }
/// ...
/// }
/// ```
public struct MachineBus: Sendable {
    /// The most bytes one string port I/O exit carries: KVM passes them in the one page after
    /// `kvm_run` (`KVM_PIO_PAGE_OFFSET`), so `size × count` never exceeds a page.
    public static let maximumStringBytes = 4096

    /// Ports 0-0xFFFF.
    public var portIO: Bus
    /// Guest-physical addresses that no memory slot backs.
    public var mmio: Bus

    public init(portIO: Bus = .portIO(), mmio: Bus = .mmio()) {
        self.portIO = portIO
        self.mmio = mmio
    }

    /// What answering one exit did.
    public enum Outcome: Sendable, Hashable {
        /// A device took the access (every element of a string access).
        case handled
        /// A device asked something of the machine; for a string `out`, the elements after the one
        /// that asked were not written.
        case request(MachineRequest)
        /// No device took it: reads got all-ones, writes were dropped.
        case unclaimed(UnclaimedAccess)
    }

    /// Answers a port I/O exit: each of the `count` elements (more than one for `rep ins`/`rep outs`)
    /// goes to the device at `io.port`; an `in` is completed on `vcpu` before this returns.
    ///
    /// - Throws: when the exit's data does not fit in the `kvm_run` mapping (a malformed exit), or
    ///   `size × count` exceeds ``maximumStringBytes``.
    public func handle(_ io: PortIO, on vcpu: VCPU) throws(KVMRuntimeError) -> Outcome {
        let size = io.size, count = io.count
        guard count >= 1, size * count <= Self.maximumStringBytes else {
            throw .guestMemory(.lengthTooLarge(requested: UInt64(size) * UInt64(count), available: UInt64(Self.maximumStringBytes)))
        }
        let address = UInt64(io.port)
        switch io.direction {
        case .out:
            if count == 1 { return Self.outcome(portIO.write(at: address, size: size, value: UInt64(io.value))) }
            let data = try vcpu.portIOData()
            guard data.count == size * count else {
                throw .guestMemory(.lengthTooLarge(requested: UInt64(size * count), available: UInt64(data.count)))
            }
            var outcome = Outcome.handled
            for element in 0..<count {
                var value: UInt64 = 0
                for byte in 0..<size { value |= UInt64(data[element * size + byte]) << (8 * UInt64(byte)) }
                let result = Self.outcome(portIO.write(at: address, size: size, value: value))
                if case .request = result { return result }
                if case .unclaimed = result { outcome = result }
            }
            return outcome
        case .in:
            var bytes: [UInt8] = []
            bytes.reserveCapacity(size * count)
            var outcome = Outcome.handled
            for _ in 0..<count {
                let read = portIO.read(at: address, size: size)
                if case .unclaimed(let access) = read { outcome = .unclaimed(access) }
                let value = read.value
                for byte in 0..<size { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte)))) }
            }
            try vcpu.completePortInput(bytes: bytes)
            return outcome
        }
    }

    /// Answers an MMIO exit; a read is completed on `vcpu` before this returns.
    public func handle(_ access: MMIOAccess, on vcpu: VCPU) -> Outcome {
        if access.isWrite { return Self.outcome(mmio.write(at: access.address.rawValue, size: access.length, value: access.value)) }
        let read = mmio.read(at: access.address.rawValue, size: access.length)
        vcpu.completeMMIORead(read.value)
        if case .unclaimed(let unclaimed) = read { return .unclaimed(unclaimed) }
        return .handled
    }

    private static func outcome(_ write: BusWrite) -> Outcome {
        switch write {
        case .claimed(let request?): .request(request)
        case .claimed(nil): .handled
        case .unclaimed(let access): .unclaimed(access)
        }
    }
}
