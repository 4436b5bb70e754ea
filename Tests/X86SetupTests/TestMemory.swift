#if arch(x86_64)
import KVM

/// Guest memory `[0, size)` backed by an anonymous mapping (no VM needed).
func makeMemory(size: Int, at base: UInt64 = 0) throws -> GuestMemory {
    try GuestMemory(regions: [
        GuestMemoryRegion(slot: 0, guestBase: GuestAddress(base), mapping: MemoryMapping(byteCount: size)),
    ])
}

/// A fixed-seed generator (SplitMix64), so that sampled tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
#endif
