#if arch(x86_64)
import KVMBindings

/// The x87/SSE state a firmware leaves: what `fninit` sets and MXCSR's reset value.
public enum FPUDefaults {
    /// FCW after `fninit`: all exceptions masked, 64-bit precision, round to nearest.
    public static let controlWord: UInt16 = 0x37F
    /// MXCSR at reset: all SSE exceptions masked, round to nearest.
    public static let mxcsr: UInt32 = 0x1F80

    /// The state for KVM_SET_FPU.
    public static var state: KVMFPU {
        var fpu = KVMFPU()
        fpu.fcw = controlWord
        fpu.mxcsr = mxcsr
        return fpu
    }
}
#endif
