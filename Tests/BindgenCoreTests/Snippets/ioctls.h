#include <linux/types.h>
#include <linux/ioctl.h>
#define KVMIO 0xAE
struct kvm_regs {
	__u64 rax;
};
/* KVM_EXIT_* reasons */
#define KVM_EXIT_UNKNOWN 0
#define KVM_EXIT_IO 2
#define KVM_EXIT_HLT 5
#define KVM_MEM_LOG_DIRTY_PAGES (1UL << 0)
#define KVM_MEM_READONLY (1UL << 1)
enum {
	kvm_ioeventfd_flag_nr_datamatch,
	kvm_ioeventfd_flag_nr_pio,
};
#define KVM_IOEVENTFD_FLAG_DATAMATCH (1 << kvm_ioeventfd_flag_nr_datamatch)
#define KVM_API_VERSION 12
#define KVM_SNIPPET_EXPRESSION ((3 * 4) + 1)

/*
 * ioctls for /dev/kvm fds:
 */
#define KVM_GET_API_VERSION _IO(KVMIO, 0x00)
#define KVM_CREATE_VM _IO(KVMIO, 0x01) /* returns a VM fd */
/*
 * ioctls for vcpu fds
 */
#define KVM_GET_REGS _IOR(KVMIO, 0x81, struct kvm_regs)
#define KVM_SET_REGS _IOW(KVMIO, 0x82, struct kvm_regs)
#define KVM_SNIPPET_UNLISTED _IOWR(KVMIO, 0xfe, struct kvm_regs)
#define KVM_SET_IDENTITY_MAP_ADDR _IOW(KVMIO, 0x48, __u64)
