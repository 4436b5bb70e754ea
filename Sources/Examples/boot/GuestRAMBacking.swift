// How the host backs guest RAM. `--huge-pages` asks for transparent huge pages on it
// (madvise(MADV_HUGEPAGE), which a host whose THP mode is "madvise" needs before it uses 2 MiB pages for
// an anonymous mapping; QEMU does it for its RAM by default): one host fault per 2 MiB instead of per
// 4 KiB, and fewer TLB misses, for resident memory that grows in 2 MiB steps. `--prefault` populates
// the whole of guest RAM before the guest starts (MADV_POPULATE_WRITE), trading start-up time and
// resident memory for no faults while it runs. Neither is the default: on the PVM host this was
// measured on, booting Linux spends its time in emulated kernel instructions, not in host faults, and
// neither moved the boot time beyond run-to-run noise (see the README).

import KVM

enum GuestRAMBacking {
    /// Applies the choice to every region of `memory` (`MemoryMapping.adviseTransparentHugePages()`,
    /// `populate()`); returns what could not be done, one line each (a host without THP or too old
    /// for MADV_POPULATE_WRITE refuses: the guest runs regardless). A VMM that wants either from the
    /// start passes `MemoryBacking(transparentHugePages:populate:)` to `mapMemory` instead, which fails
    /// on a refusal.
    static func apply(to memory: GuestMemory, hugePages: Bool, prefault: Bool) -> [String] {
        var refused: [String] = []
        for region in memory.regions {
            if hugePages {
                do { try region.mapping.adviseTransparentHugePages() } catch { refused.append("\(error)") }
            }
            if prefault {
                do { try region.mapping.populate() } catch { refused.append("\(error)") }
            }
        }
        return refused
    }
}
