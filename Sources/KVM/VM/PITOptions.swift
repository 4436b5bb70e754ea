#if arch(x86_64)
import KVMBindings

/// Options of the in-kernel i8254 (`kvm_pit_config.flags`), for `VirtualMachine.createPIT2(options:)`.
public struct PITOptions: OptionSet, Sendable, Hashable {
    /// The bits as `kvm_pit_config.flags` takes them.
    public let rawValue: UInt32

    /// Creates options from `kvm_pit_config.flags` bits.
    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// `KVM_PIT_SPEAKER_DUMMY`: the kernel also emulates port 0x61 (the PC speaker's control
    /// port, whose bit 5 firmware and Linux read to calibrate against PIT channel 2), so that
    /// those reads do not exit to the VMM.
    public static let speakerDummy = PITOptions(rawValue: UInt32(KVMConstants.pitSpeakerDummy))
}
#endif
