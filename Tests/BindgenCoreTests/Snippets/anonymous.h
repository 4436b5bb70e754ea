#include <linux/types.h>
struct kvm_snippet_run {
	__u32 exit_reason;
	union {
		/* KVM_EXIT_IO */
		struct {
			__u8 direction;
			__u16 port;
		} io;
		struct {
			__u64 phys_addr;
			__u32 len;
		} mmio;
		char padding[32];
	};
	struct {
		__u32 first;
		__u32 second;
	};
};
