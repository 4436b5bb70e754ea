// C shims for the KVM runtime's hot path: what Swift cannot express without a detour.
//
// - `ioctl` is variadic, so Swift's Glibc overlay wraps it in an out-of-line function; the inline
//   shim below calls libc's `ioctl` directly (one call, as a C VMM makes).
// - Swift has no thread-local variables; the per-thread token lets `VCPU.run()` tell in two
//   instructions whether the calling thread is the one it prepared for stops (see ThreadToken.c).
// - Swift's Glibc module has no <sys/eventfd.h> and no `memfd_create`; calling them here links them
//   statically like any libc function, so they work in a fully static executable, where looking
//   them up at run time (`dlsym`) finds nothing (see GNUExtensions.c); nor `pthread_setname_np`.
// - `dl_iterate_phdr` takes a C callback, `userfaultfd` has no libc wrapper and its ioctl requests are
//   function-like macros: the executable's own segments and fault-around (ExecutableCode.swift).
#ifndef CKVM_SHIMS_H
#define CKVM_SHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

/// `ioctl(fd, request, argument)`, inlined into the caller.
static inline int ckvm_ioctl(int fd, unsigned long request, void *argument) {
    return ioctl(fd, request, argument);
}

/// This thread's token: 0 until `ckvm_assign_thread_token` runs in the thread, then a value no other
/// thread of the process has had or will have (unlike `pthread_t`, which glibc reuses).
/// Initial-exec TLS: the runtime is linked into the executable (or a library loaded at start-up).
extern __thread uint64_t ckvm_thread_token __attribute__((tls_model("initial-exec")));

static inline uint64_t ckvm_current_thread_token(void) {
    return ckvm_thread_token;
}

/// Gives the calling thread its token if it has none yet; returns it.
uint64_t ckvm_assign_thread_token(void);

/// glibc's `eventfd(initial_value, flags)` (flags: EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE).
int ckvm_eventfd(unsigned int initial_value, int flags);

/// glibc's `memfd_create(name, flags)` (flags: MFD_CLOEXEC, MFD_HUGETLB and a MFD_HUGE_* size).
int ckvm_memfd_create(const char *name, unsigned int flags);

/// glibc's `pthread_setname_np(pthread_self(), name)`: at most 15 bytes and a NUL.
int ckvm_set_thread_name(const char *name);

/// The host's RAM plus swap in bytes (`sysinfo`: totalram + totalswap, times mem_unit), saturating
/// at UINT64_MAX; 0 if sysinfo fails. Swift's Glibc module does not export <sys/sysinfo.h>.
uint64_t ckvm_host_memory_and_swap(void);

/// One program header of the running executable: a loadable segment (`type` PT_LOAD, 1) or its
/// read-only-after-relocation part (PT_GNU_RELRO, 0x6474e552); `flags` are PF_X (1), PF_W (2), PF_R (4).
struct ckvm_segment {
    uintptr_t start;
    uintptr_t size;
    uint32_t type;
    uint32_t flags;
};

/// The executable's PT_LOAD and PT_GNU_RELRO headers, in program-header order, relocated to where
/// they are mapped (`dl_iterate_phdr`'s first object). Fills at most `capacity`; returns how many
/// there are.
int ckvm_executable_segments(struct ckvm_segment *segments, int capacity);

/// A userfaultfd (O_CLOEXEC, O_NONBLOCK, user-mode faults only) with the API handshake done and
/// UFFD_FEATURE_WP_ASYNC (Linux 6.7) enabled; -1 with errno set on failure, and `*failed_step` 0 if
/// `userfaultfd` failed, 1 if `UFFDIO_API` did. With WP_ASYNC a write-protect fault is resolved by
/// the kernel itself: nothing is ever queued on the descriptor, which need not be read.
int ckvm_userfaultfd_open_wp_async(int *failed_step);

/// `UFFDIO_REGISTER` of `[start, start + length)` (page-aligned) in write-protect mode; 0 or -1 with
/// errno set. The kernel does no fault-around in a range registered so (mm/memory.c,
/// should_fault_around → uffd_disable_fault_around).
int ckvm_userfaultfd_register_wp(int fd, uintptr_t start, size_t length);

/// memfd_create flags and madvise advice, defined here for C libraries whose headers predate them.
#define CKVM_MFD_CLOEXEC 0x0001U
#define CKVM_MFD_HUGETLB 0x0004U
#define CKVM_MFD_HUGE_SHIFT 26
#define CKVM_MADV_HUGEPAGE 14
#define CKVM_MADV_POPULATE_WRITE 23

#endif
