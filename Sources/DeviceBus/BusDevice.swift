/// A device on a ``Bus``: it answers the guest's reads and writes inside the address range it was
/// registered at.
///
/// The bus calls a device from whichever vCPU thread made the access, possibly from several at once,
/// so a device synchronises its own state (a `Mutex`, an atomic, or nothing when it has no state).
/// Offsets are relative to the start of the range the device was registered at, so one device type
/// can sit at any address; an access never extends past the end of that range (the bus does not
/// route one that would).
public protocol BusDevice: Sendable {
    /// A guest read of `size` bytes (1 to 8; usually 1, 2, 4 or 8) at `offset` within the device's range.
    ///
    /// - Returns: The value read; only its low `size` bytes reach the guest.
    func read(at offset: UInt64, size: Int) -> UInt64

    /// A guest write of the low `size` bytes (1 to 8; usually 1, 2, 4 or 8) of `value` at `offset` within
    /// the device's range.
    ///
    /// - Returns: What the write asks of the machine (a reset, a power-off, an exit), or nil.
    func write(at offset: UInt64, size: Int, value: UInt64) -> MachineRequest?
}

/// What a device asks the VMM to do to the whole machine, for example after the guest wrote the
/// i8042's reset command or the ACPI sleep register. The device only reports it; the VMM decides how
/// to stop its vCPUs and what to do next.
public enum MachineRequest: Sendable, Hashable, CustomStringConvertible {
    /// Reset the machine (reboot).
    case reset
    /// Power the machine off.
    case powerOff
    /// End the VMM process with this exit status (e.g. QEMU's isa-debug-exit convention).
    case exit(status: Int32)

    public var description: String {
        switch self {
        case .reset: "reset"
        case .powerOff: "power off"
        case .exit(let status): "exit with status \(status)"
        }
    }
}
