// glibc's GNU extensions the runtime uses (see CKVMShims.h): direct calls, resolved at link time.
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include "CKVMShims.h"

int ckvm_eventfd(unsigned int initial_value, int flags) {
    return eventfd(initial_value, flags);
}

int ckvm_memfd_create(const char *name, unsigned int flags) {
    return memfd_create(name, flags);
}

int ckvm_set_thread_name(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}

uint64_t ckvm_host_memory_and_swap(void) {
    struct sysinfo info;
    if (sysinfo(&info) != 0) return 0;
    unsigned __int128 total = ((unsigned __int128)info.totalram + info.totalswap) * info.mem_unit;
    return total > UINT64_MAX ? UINT64_MAX : (uint64_t)total;
}
