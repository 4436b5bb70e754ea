// What the virtio products need from C that Swift's Glibc module does not export: epoll, getrandom,
// fallocate's mode flags, O_DIRECT (which glibc defines only under _GNU_SOURCE), and the TUN ioctls.
#ifndef CVIRTIO_SHIMS_H
#define CVIRTIO_SHIMS_H

// No _GNU_SOURCE here: it would change glibc's declarations against the ones Swift's Glibc module sees.
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/// fallocate(2), which glibc declares only under _GNU_SOURCE; called through syscall(2) (64-bit
/// architectures pass each off_t in one register). Returns 0 or -1 with errno set.
static inline int cvirtio_fallocate(int fd, int mode, off_t offset, off_t length) {
    return (int)syscall(SYS_fallocate, fd, mode, offset, length);
}

/// Opens /dev/net/tun and attaches to (or creates) the TAP interface `name` with IFF_TAP | IFF_NO_PI |
/// IFF_VNET_HDR and a 12-byte vnet header (virtio_net_hdr_v1), non-blocking and close-on-exec. Writes the
/// interface's actual name (at most IFNAMSIZ bytes with the NUL) to `actual_name`. Returns the descriptor,
/// or -errno (errno values are positive) with `*failed_step` naming the failing call. In C because `ioctl`
/// is variadic, which Swift cannot call, and `struct ifreq` is a union Swift imports awkwardly.
static inline int cvirtio_open_tap(const char *name, char *actual_name, const char **failed_step) {
    *failed_step = "open(/dev/net/tun)";
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    *failed_step = "ioctl(TUNSETIFF)";
    if (ioctl(fd, TUNSETIFF, &request) < 0) { int error = errno; close(fd); return -error; }
    int header_size = 12;
    *failed_step = "ioctl(TUNSETVNETHDRSZ)";
    if (ioctl(fd, TUNSETVNETHDRSZ, &header_size) < 0) { int error = errno; close(fd); return -error; }
    memcpy(actual_name, request.ifr_name, IFNAMSIZ);
    actual_name[IFNAMSIZ - 1] = 0;
    *failed_step = "";
    return fd;
}

#endif
