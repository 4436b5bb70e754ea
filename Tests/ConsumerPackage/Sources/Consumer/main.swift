// Uses every library product of swift-kvm a little, without /dev/kvm: enough to prove that each one
// resolves, builds and links from a user's package.

import ACPITables
import DeviceBus
import EmulatedCPL0Fallbacks
import KVM
import KVMBindings
import LegacyDevices
import LinuxLoader
import VirtioDevices
import VirtioMMIO
import VirtioQueue
import X86Assembler
import X86Setup

// KVMBindings: a struct mirror, a constant group and an ioctl descriptor.
var region = KVMUserspaceMemoryRegion()
region.memorySize = 4096
print("struct kvm_userspace_memory_region size \(MemoryLayout<KVMUserspaceMemoryRegion>.size)")
print("KVM_CREATE_VM 0x\(String(KVMIoctl.createVM.request, radix: 16))")
print("KVM_EXIT_IO \(KVMExitReason.io.rawValue) \(KVMExitReason.io)")
print("KVM_CAP_IRQCHIP \(KVMCapability.irqchip.rawValue)")
print("memory_size \(region.memorySize)")

// KVM: guest addresses and the little-endian buffer guest structures are built in.
var buffer = LittleEndianBuffer()
buffer.append(UInt32(0x5346_5352))
print("KVM \(GuestAddress(0x10_0000)) buffer \(buffer.bytes)")

// LinuxLoader.
print("LinuxLoader e820 \(MemoryMap(ramSize: 64 << 20).entries.count) entries, payload \(PayloadFormat(magic: XZ.magic))")

// X86Setup and X86Assembler.
print("X86Setup code64 0x\(String(SegmentDescriptor.flatCode64().encoded, radix: 16))")
var code = X86Code<Long64>()
code.hlt()
print("X86Assembler hlt \((try? code.assemble()) ?? [])")

// DeviceBus and LegacyDevices: a second device on the same port is refused.
var bus = MachineBus()
try bus.portIO.register(DebugExitPort(), base: DebugExitPort.defaultAddress, size: DebugExitPort.size)
do {
    try bus.portIO.register(CMOSRTC(), base: DebugExitPort.defaultAddress, size: 1)
} catch {
    print("DeviceBus overlap refused")
}
print("LegacyDevices debug exit 1 -> status \(DebugExitPort.status(for: 1))")

// ACPITables.
let acpi = try ACPITableSet(
    base: 0xE_0000,
    fadt: .hardwareReduced(sleepControl: .ioPort(0x600), sleepStatus: .ioPort(0x601)),
    dsdt: .dsdt([AML.powerButton()]), tables: [MADT.kvm(cpuCount: 2)])
print("ACPITables " + acpi.tables.map(\.signature).joined(separator: " "))

// EmulatedCPL0Fallbacks: what a VMM passes to Linux for a probe result.
let probe = EmulatorProbe.Result(failed: ["popcnt"], userSyscall: .arrivesInKernelMode)
print("EmulatedCPL0Fallbacks \(probe.kernelParameters.joined(separator: " "))")

// VirtioQueue, VirtioMMIO, VirtioDevices.
print("VirtioQueue \(VirtioFeatures.version1)")
print("VirtioMMIO \(VirtioMMIOPlacement(base: 0xD000_0000, gsi: 5).kernelCommandLineFragment)")
print("VirtioDevices \(MACAddress("52:54:00:12:34:56").map(\.description) ?? "?")")
