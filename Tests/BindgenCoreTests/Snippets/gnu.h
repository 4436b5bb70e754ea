#include <linux/types.h>
/* GNU C as older and other architectures' headers write it. */

/* A zero-length trailing array: the 5.10 and 6.1 headers' spelling of a flexible array member. */
struct kvm_cpuid2 {
	__u32 nent;
	__u32 padding;
	__u64 entries[0];
};

/* An empty struct (size 0), as riscv64's architecture hooks. */
struct kvm_snippet_empty_arch {
};

struct kvm_snippet_holds_empty {
	__u32 control;
	struct kvm_snippet_empty_arch arch;
	__u32 after;
};
