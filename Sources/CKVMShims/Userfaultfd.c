// userfaultfd in write-protect mode, asynchronous (CKVMShims.h). glibc has no userfaultfd wrapper,
// and the ioctl requests are macros Swift cannot import. The constants added after Linux 6.1's
// UAPI headers (UFFD_USER_MODE_ONLY, UFFD_FEATURE_WP_ASYNC) are spelled out, so the build does not
// depend on how new the host's linux-libc-dev is.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "CKVMShims.h"

#define CKVM_UFFD_USER_MODE_ONLY 1
#define CKVM_UFFD_FEATURE_WP_ASYNC (1ULL << 15)

int ckvm_userfaultfd_open_wp_async(int *failed_step) {
    // User-mode faults only: allowed without privileges (vm.unprivileged_userfaultfd=0), and
    // nothing is ever delivered through this descriptor anyway (see CKVMShims.h).
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | CKVM_UFFD_USER_MODE_ONLY);
    if (fd < 0) {
        *failed_step = 0;
        return -1;
    }
    struct uffdio_api api = {.api = UFFD_API, .features = CKVM_UFFD_FEATURE_WP_ASYNC};
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        int error = errno;
        close(fd);
        errno = error;
        *failed_step = 1;
        return -1;
    }
    return fd;
}

int ckvm_userfaultfd_register_wp(int fd, uintptr_t start, size_t length) {
    struct uffdio_register registration = {.range = {.start = start, .len = length}, .mode = UFFDIO_REGISTER_MODE_WP};
    return ioctl(fd, UFFDIO_REGISTER, &registration);
}
