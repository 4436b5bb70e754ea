#include <linux/types.h>
struct kvm_snippet_packed {
	__u8 tag;
	__u64 value;
	__u16 port;
} __attribute__((packed));

struct kvm_snippet_aligned {
	__u32 a;
	__u32 b;
} __attribute__((aligned(8)));

struct kvm_snippet_tail {
	__u64 big;
	__u8 small;
};

struct kvm_snippet_outer {
	struct kvm_snippet_tail inner;
	__u8 after;
};
