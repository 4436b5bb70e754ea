#include <linux/types.h>
/* A tagged union. */
union kvm_snippet_value {
	__u64 wide;
	__u32 narrow[2];
	__u8 bytes[8];
};
