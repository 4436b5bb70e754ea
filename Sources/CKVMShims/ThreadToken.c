// Per-thread tokens for CKVMShims.h.
#include "CKVMShims.h"

__thread uint64_t ckvm_thread_token __attribute__((tls_model("initial-exec"))) = 0;

/// The last token handed out; tokens start at 1 and a 64-bit counter does not wrap.
static uint64_t last_token = 0;

uint64_t ckvm_assign_thread_token(void) {
    if (ckvm_thread_token == 0) {
        ckvm_thread_token = __atomic_add_fetch(&last_token, 1, __ATOMIC_RELAXED);
    }
    return ckvm_thread_token;
}
