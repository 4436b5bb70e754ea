// hello: the smallest VMM.
//
// 1. Open /dev/kvm and create a VM.
// 2. Give it one memory slot (64 KiB at guest-physical 0) and copy a few bytes of real-mode code there.
// 3. Create one vCPU; point CS:IP at the code (real mode starts with CS base 0xffff0000, so we reset it).
// 4. Run it: each `out dx, al` exits to us with the byte; we print it. `hlt` ends the program.
import Glibc
import KVM
import KVMBindings

/// The guest, hand-assembled (16-bit real mode):
///     mov dx, 0x3f8        ; the port we listen on
///     mov si, message
/// next:
///     lodsb                ; al = [si++]
///     test al, al
///     jz done
///     out dx, al           ; exit to the VMM with al
///     jmp next
/// done:
///     hlt
/// message: "Hello from a KVM guest!\n", 0
let message = Array("Hello from a KVM guest!\n".utf8) + [0]
let codeBase: UInt16 = 0x1000
let code: [UInt8] = [
    0xBA, 0xF8, 0x03,                 // mov dx, 0x3f8
    0xBE, 0x11, 0x10,                 // mov si, 0x1011 (message, right after the code)
    0xAC,                             // lodsb
    0x84, 0xC0,                       // test al, al
    0x74, 0x03,                       // jz done (+3)
    0xEE,                             // out dx, al
    0xEB, 0xF8,                       // jmp lodsb (-8)
    0xF4,                             // hlt
    0x90, 0x90,                       // padding up to the message at 0x1011
]

do {
    let kvm = try KVMSystem()
    let vm = try kvm.createVM()
    let memory = try vm.mapMemory(slot: 0, at: 0, size: 0x10000)
    try vm.memory.write(bytes: code + message, at: GuestAddress(UInt64(codeBase)))
    _ = memory

    let vcpu = try vm.createVCPU(id: 0)
    var special = try vcpu.specialRegisters()
    special.cs.base = 0
    special.cs.selector = 0
    try vcpu.setSpecialRegisters(special)
    var registers = KVMRegs()
    registers.rip = UInt64(codeBase)
    registers.rflags = 0x2  // bit 1 is always set
    try vcpu.setRegisters(registers)

    var output: [UInt8] = []
    loop: while true {
        switch try vcpu.run() {
        case .io(let io) where io.direction == .out && io.port == 0x3f8:
            output.append(UInt8(truncatingIfNeeded: io.value))
        case .halt:
            break loop
        case let other:
            print("unexpected exit: \(other)")
            exit(1)
        }
    }
    print(String(decoding: output, as: UTF8.self), terminator: "")
} catch {
    print("hello: \(error)")
    exit(1)
}
