import DeviceBus

/// QEMU's `isa-debug-exit` convention: a guest write of `value` to the port (0xF4 by default, as test
/// suites such as kvm-unit-tests and many hobby kernels expect) asks the VMM to exit with status
/// `(value << 1) | 1`. The status is odd by construction, so a test runner can tell a guest-requested
/// exit from the VMM's own statuses; as with any process, only its low 8 bits reach the parent.
///
/// Register it with ``size`` ports (an `outl` writes four bytes) at ``defaultAddress``; every width is
/// accepted, and the value is the bytes written. Reads return all-ones, as QEMU's does.
public struct DebugExitPort: BusDevice {
    public static let defaultAddress: UInt64 = 0xF4
    public static let size: UInt64 = 4

    public init() {}

    /// The exit status a write of `value` asks for.
    public static func status(for value: UInt64) -> Int32 { Int32(truncatingIfNeeded: value << 1 | 1) }

    public func read(at offset: UInt64, size: Int) -> UInt64 { .max }

    public func write(at offset: UInt64, size: Int, value: UInt64) -> MachineRequest? {
        .exit(status: Self.status(for: value << (8 * offset)))
    }
}
