import Glibc
import KVM
import KVMBindings
import Testing

/// Whether this host has /dev/kvm; tests that need it are disabled with this reason where it is absent.
enum KVMHost {
    static let isAvailable = access("/dev/kvm", R_OK | W_OK) == 0
    static let skipReason: Comment = "/dev/kvm is absent or not accessible: KVM tests skipped"
}

/// A VM with real-mode code at 0x1000 (slot 0, 64 KiB) and, optionally, a dirty-logged data slot at
/// 0x100000 (slot 1, 64 KiB), and one vCPU at CS:IP = 0:0x1000.
struct RealModeMachine {
    static let codeAddress: UInt64 = 0x1000
    static let dataAddress: UInt64 = 0x10_0000
    let vm: VirtualMachine
    let vcpu: VCPU

    init(code: [UInt8], dataFlags: GuestMemoryRegion.Flags? = nil, beforeVCPU: (VirtualMachine) throws -> Void = { _ in })
        throws
    {
        let system = try KVMSystem()
        vm = try system.createVM()
        try vm.mapMemory(slot: 0, at: 0, size: 0x10000)
        if let dataFlags { try vm.mapMemory(slot: 1, at: GuestAddress(Self.dataAddress), size: 0x10000, flags: dataFlags) }
        try vm.memory.write(bytes: code, at: GuestAddress(Self.codeAddress))
        try beforeVCPU(vm)
        vcpu = try vm.createVCPU(id: 0)
        var special = try vcpu.specialRegisters()
        special.cs.base = 0
        special.cs.selector = 0
        special.ds.base = 0
        special.ds.selector = 0
        try vcpu.setSpecialRegisters(special)
        var registers = KVMRegs()
        registers.rip = Self.codeAddress
        registers.rflags = 0x2
        try vcpu.setRegisters(registers)
    }
}
