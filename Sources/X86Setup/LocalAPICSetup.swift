#if arch(x86_64)
import KVMBindings

/// The local APIC's register page as KVM_GET_LAPIC returns it, and the LVT setup firmware leaves.
public enum LocalAPICSetup {
    /// LVT LINT0's offset in the register page.
    public static let lint0Offset = 0x350
    /// LVT LINT1's offset.
    public static let lint1Offset = 0x360
    /// Bits 10:8 of an LVT entry.
    public static let deliveryModeMask: UInt32 = 0x700
    public static let deliveryModeNMI: UInt32 = 0x400
    public static let deliveryModeExtINT: UInt32 = 0x700

    /// The 32-bit register at `offset` (16-byte aligned, below 0x400).
    public static func register(_ offset: Int, in state: KVMLAPICState) -> UInt32 {
        precondition(offset >= 0 && offset + 4 <= 0x400 && offset % 16 == 0, "LAPIC register offset 0x\(String(offset, radix: 16))")
        var value: UInt32 = 0
        for index in 0 ..< 4 { value |= UInt32(UInt8(bitPattern: state.regs[offset + index])) << (8 * index) }
        return value
    }

    /// Sets the 32-bit register at `offset`.
    public static func setRegister(_ offset: Int, to value: UInt32, in state: inout KVMLAPICState) {
        precondition(offset >= 0 && offset + 4 <= 0x400 && offset % 16 == 0, "LAPIC register offset 0x\(String(offset, radix: 16))")
        for index in 0 ..< 4 { state.regs[offset + index] = Int8(bitPattern: UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }

    /// `state` with LVT LINT0 = ExtINT (the 8259 PIC's output) and LINT1 = NMI, as firmware leaves
    /// them (the MP specification's virtual-wire mode); the other LVT bits are kept.
    public static func configuringLINTs(_ state: KVMLAPICState) -> KVMLAPICState {
        var state = state
        setRegister(lint0Offset, to: (register(lint0Offset, in: state) & ~deliveryModeMask) | deliveryModeExtINT, in: &state)
        setRegister(lint1Offset, to: (register(lint1Offset, in: state) & ~deliveryModeMask) | deliveryModeNMI, in: &state)
        return state
    }
}
#endif
