import Glibc

/// The host's page size in bytes, as reported by `sysconf(_SC_PAGESIZE)`.
///
/// Anonymous mappings are sized in multiples of this. Falls back to 4096 (the x86-64 base
/// page size) in the impossible case that `sysconf` fails.
public let hostPageSize: Int = {
    let size = sysconf(Int32(_SC_PAGESIZE))
    // A page size must be a positive power of two; anything else means sysconf misbehaved.
    guard size > 0, size & (size - 1) == 0 else { return 4096 }
    return size
}()
