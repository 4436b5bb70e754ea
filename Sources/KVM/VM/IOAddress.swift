/// An address in one of the guest's two I/O spaces: an x86 I/O port, or a guest-physical address
/// (MMIO). Where ioeventfds and coalesced zones listen.
public enum IOAddress: Sendable, Hashable, CustomStringConvertible {
    /// An I/O port (`in`/`out`; x86 only).
    case port(UInt16)
    /// A guest-physical address, accessed as memory (MMIO).
    case memory(GuestAddress)

    /// The address as KVM's `addr` fields take it.
    var rawAddress: UInt64 {
        switch self {
        case .port(let port): return UInt64(port)
        case .memory(let address): return address.rawValue
        }
    }

    /// Whether this is port I/O.
    var isPort: Bool {
        if case .port = self { return true }
        return false
    }

    /// `port 0x3f8` or `memory 0xd0000`.
    public var description: String {
        switch self {
        case .port(let port): return "port 0x" + String(port, radix: 16)
        case .memory(let address): return "memory \(address)"
        }
    }
}
