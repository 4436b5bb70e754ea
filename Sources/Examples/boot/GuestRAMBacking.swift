// How the host backs guest RAM. `--huge-pages` asks for transparent huge pages on it
// (madvise(MADV_HUGEPAGE), which a host whose THP mode is "madvise" needs before it uses 2 MiB pages for
// an anonymous mapping; QEMU does it for its RAM by default): one host fault per 2 MiB instead of per
// 4 KiB, and fewer TLB misses, for resident memory that grows in 2 MiB steps. `--prefault` populates
// the whole of guest RAM before the guest starts (MADV_POPULATE_WRITE), trading start-up time and
// resident memory for no faults while it runs. Neither is the default: on the PVM host this was
// measured on, booting Linux spends its time in emulated kernel instructions, not in host faults, and
// neither moved the boot time beyond run-to-run noise (see the README).

import Glibc
import KVM

enum GuestRAMBacking {
    /// MADV_POPULATE_WRITE (Linux 5.14), not in every Glibc's headers.
    static let madvisePopulateWrite: Int32 = 23

    /// Applies the choice to every region of `memory`; returns what could not be done, one line each
    /// (a host without THP or too old for MADV_POPULATE_WRITE refuses: the guest runs regardless).
    static func apply(to memory: GuestMemory, hugePages: Bool, prefault: Bool) -> [String] {
        var refused: [String] = []
        for region in memory.regions {
            region.mapping.withUnsafeMutableBytes { bytes in
                guard let base = bytes.baseAddress else { return }
                // SAFETY: `bytes` is the whole mapping (page-aligned base, whole pages), alive for this
                // call; madvise only changes how the kernel backs it, never what it holds (zeros or the
                // bytes already written).
                if hugePages, madvise(base, bytes.count, MADV_HUGEPAGE) != 0 {
                    refused.append("madvise(MADV_HUGEPAGE): \(String(cString: strerror(errno)))")
                }
                if prefault, madvise(base, bytes.count, madvisePopulateWrite) != 0 {
                    refused.append("madvise(MADV_POPULATE_WRITE): \(String(cString: strerror(errno)))")
                }
            }
        }
        return refused
    }
}
