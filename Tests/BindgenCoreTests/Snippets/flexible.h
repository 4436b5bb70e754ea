#include <linux/types.h>
#include <linux/stddef.h>
struct kvm_snippet_entry {
	__u32 index;
	__u32 reserved;
	__u64 data;
};

/* for KVM_SNIPPET_MSRS */
struct kvm_msrs {
	__u32 nmsrs; /* number of msrs in entries */
	__u32 pad;
	__DECLARE_FLEX_ARRAY(struct kvm_snippet_entry, entries);
};

struct kvm_snippet_plain_fam {
	__u16 len;
	__u8 data[];
};
