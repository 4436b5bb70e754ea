// What a guest did that this host delivers wrongly and the VMM cannot repair: reported, named by
// instruction and mode, so that a run ends with an explanation instead of a hang or a wrong result.

import KVM

/// A guest action that a host without hardware virtualization handles differently from an x86 CPU,
/// detected by ``UserModeFixup`` and returned to the VMM to report (the guest cannot continue
/// correctly).
public enum HostDefect: Error, Equatable, Sendable, CustomStringConvertible {
    /// `int n` executed in user mode: the host delivered #UD (vector 6) to the guest instead of
    /// delivering vector `vector` through its IDT (or #GP, for a gate whose DPL is below 3).
    case userSoftwareInterrupt(vector: UInt8, rip: UInt64, mode: String)
    /// `in`/`out` in user mode without I/O permission (CPL > IOPL and not allowed by the TSS I/O
    /// bitmap): the host exited to the VMM with the access instead of raising #GP in the guest.
    case userPortIOWithoutPermission(port: UInt16, direction: PortIO.Direction, size: Int, rip: UInt64, iopl: Int, mode: String)

    public var description: String {
        switch self {
        case .userSoftwareInterrupt(let vector, let rip, let mode):
            return "`int \(hex(vector))` in \(mode) at RIP \(hex(rip)): this host's KVM delivers #UD to the guest "
                + "instead of the interrupt (a CPU without this defect delivers vector \(hex(vector)) through the IDT, "
                + "or #GP); the guest would misbehave, so the VMM stops it"
        case .userPortIOWithoutPermission(let port, let direction, let size, let rip, let iopl, let mode):
            let instruction = (direction == .out ? "out" : "in") + (size == 1 ? "b" : size == 2 ? "w" : "l")
            return "`\(instruction)` to port \(hex(port)) in \(mode) at RIP \(hex(rip)) with IOPL \(iopl) and no TSS "
                + "I/O-bitmap permission: this host's KVM exits to the VMM instead of raising #GP in the guest; "
                + "the VMM refuses the access and stops the guest"
        }
    }
}
