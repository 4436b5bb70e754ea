// glibc's GNU extensions the runtime uses (see CKVMShims.h): direct calls, resolved at link time.
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
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
