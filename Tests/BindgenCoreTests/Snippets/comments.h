#include <linux/types.h>
/*
 * The register state of a snippet vCPU.
 * Second line of the comment.
 */
struct kvm_snippet_documented {
	/* accumulator */
	__u64 rax;
	__u64 rbx; /* base */
};
