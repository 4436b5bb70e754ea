// The Swift peer of the exit round-trip benchmark: the guest of c-out-loop.c, driven by the KVM runtime.
// Usage: swift-out-loop EXITS
import Glibc
import KVM
import KVMBindings

let exits = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 10000 : 10000
let code: [UInt8] = [0xBA, 0x80, 0x00, 0xEE, 0xEB, 0xFD]  // mov dx,0x80; l: out dx,al; jmp l

do {
    let vm = try KVMSystem().createVM()
    try vm.mapMemory(slot: 0, at: 0, size: 0x10000)
    try vm.memory.write(bytes: code, at: 0x1000)
    let vcpu = try vm.createVCPU(id: 0)
    var special = try vcpu.specialRegisters()
    special.cs.base = 0
    special.cs.selector = 0
    try vcpu.setSpecialRegisters(special)
    var registers = KVMRegs()
    registers.rip = 0x1000
    registers.rflags = 2
    try vcpu.setRegisters(registers)

    var start = timespec()
    var end = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    var seen = 0
    while seen < exits {
        // The same decisions as the C loop: count `out` to port 0x80, fail on any other exit reason.
        switch try vcpu.run() {
        case .io(let io):
            if io.direction == .out && io.port == 0x80 { seen += 1 }
        case let other:
            print("unexpected exit \(other)")
            exit(1)
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end)
    let nanoseconds = Double(end.tv_sec - start.tv_sec) * 1e9 + Double(end.tv_nsec - start.tv_nsec)
    print("swift \(exits) exits \(Int(nanoseconds / Double(exits))) ns/exit")
} catch {
    print("swift-out-loop: \(error)")
    exit(1)
}
