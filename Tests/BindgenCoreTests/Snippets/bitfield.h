#include <linux/types.h>
struct kvm_snippet_bits {
	__u8 vector;
	__u8 delivery_mode:3;
	__u8 dest_mode:1;
	__u8 reserve:4;
	__s8 signed_field:3;
	__u8 dest_id;
};
