// Power-of-two rounding for placing the kernel, the initrd and the boot structures.

/// Rounds up to a multiple of `alignment` (a power of two).
@inline(__always) func alignUp(_ value: UInt64, _ alignment: UInt64) -> UInt64 { (value + alignment - 1) & ~(alignment - 1) }
/// Rounds down to a multiple of `alignment` (a power of two).
@inline(__always) func alignDown(_ value: UInt64, _ alignment: UInt64) -> UInt64 { value & ~(alignment - 1) }
