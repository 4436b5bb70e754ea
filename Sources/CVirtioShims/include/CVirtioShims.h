// What the virtio products need from C that Swift's Glibc module does not export: epoll, getrandom,
// fallocate's mode flags and O_DIRECT (which glibc defines only under _GNU_SOURCE), and the TUN ioctls.
#ifndef CVIRTIO_SHIMS_H
#define CVIRTIO_SHIMS_H

// No _GNU_SOURCE here: it would change glibc's declarations against the ones Swift's Glibc module sees.
#include <linux/falloc.h>
#include <sys/epoll.h>
#include <sys/random.h>

/// O_DIRECT for this architecture (glibc defines it only under _GNU_SOURCE; the value is the kernel's
/// <asm/fcntl.h>, which differs between arm64 and the asm-generic architectures such as x86-64 and riscv64).
#if defined(__aarch64__)
static const int cvirtio_O_DIRECT = 0200000;
#else
static const int cvirtio_O_DIRECT = 040000;
#endif
static const int cvirtio_FALLOC_FL_KEEP_SIZE = FALLOC_FL_KEEP_SIZE;
static const int cvirtio_FALLOC_FL_PUNCH_HOLE = FALLOC_FL_PUNCH_HOLE;
static const int cvirtio_FALLOC_FL_ZERO_RANGE = FALLOC_FL_ZERO_RANGE;

#endif
