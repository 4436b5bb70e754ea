import Glibc

/// Sleeps the calling thread for `milliseconds`.
func sleep(milliseconds: Int) {
    var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var remaining = timespec()
    // SAFETY: both timespecs are locals; nanosleep only reads one and writes the other.
    while unsafe nanosleep(&request, &remaining) != 0, errno == EINTR {
        request = remaining
    }
}
