#if arch(x86_64)
import KVM
import TestSupport

/// Guest memory `[0, size)` backed by an anonymous mapping (no VM needed).
func makeMemory(size: Int, at base: UInt64 = 0) throws -> GuestMemory {
    try GuestMemory(regions: [
        GuestMemoryRegion(slot: 0, guestBase: GuestAddress(base), mapping: MemoryMapping(byteCount: size)),
    ])
}

#endif
