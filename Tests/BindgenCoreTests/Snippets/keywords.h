#include <linux/types.h>
struct kvm_snippet_keywords {
	__u32 protocol;
	__u32 func;
	__u32 type;
	__u32 self;
	__u32 init;
	__u32 extension;
};
