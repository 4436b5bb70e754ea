import KVMBindings
import LinuxLoader

// Uses a struct mirror, a constant group and an ioctl descriptor: enough to prove the library links.
var region = KVMUserspaceMemoryRegion()
region.memorySize = 4096
print("struct kvm_userspace_memory_region size \(MemoryLayout<KVMUserspaceMemoryRegion>.size)")
print("KVM_CREATE_VM 0x\(String(KVMIoctl.createVM.request, radix: 16))")
print("KVM_EXIT_IO \(KVMExitReason.io.rawValue) \(KVMExitReason.io)")
print("KVM_CAP_IRQCHIP \(KVMCapability.irqchip.rawValue)")
print("memory_size \(region.memorySize)")
print("LinuxLoader e820 \(MemoryMap(ramSize: 64 << 20).entries.count) entries, payload \(PayloadFormat(magic: XZ.magic))")
