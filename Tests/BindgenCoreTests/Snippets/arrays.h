#include <linux/types.h>
struct kvm_snippet_arrays {
	__u8 matrix[2][3];
	__u64 registers[4];
	struct {
		__u8 bits;
		__u16 more;
	} entries[2];
};
