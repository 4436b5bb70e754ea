import ExampleSupport
import KVM
import KVMBindings

/// Where everything lives in the guest: one 1 MiB slot at guest-physical 0, identity-mapped
/// (guest-virtual = guest-physical).
enum Layout {
    static let memorySize = 0x10_0000
    static let gdt: UInt64 = 0x0500           // 7 entries (the TSS descriptor takes two)
    static let taskState: UInt64 = 0x0600     // the 104-byte 64-bit TSS
    static let pml4: UInt64 = 0x1000          // page tables: PML4, PDPT, page directory
    static let pdpt: UInt64 = 0x2000
    static let pageDirectory: UInt64 = 0x3000
    static let kernelStackTop: UInt64 = 0x7000
    static let kernelCode: UInt64 = 0x8000
    static let userCode: UInt64 = 0x9000
    static let userStackTop: UInt64 = 0x2_0000
    /// Inside the identity map but backed by no memory slot: every access exits to the VMM as MMIO.
    static let mmio: UInt64 = 0x1000_0000
}

/// The MMIO registers the VMM implements (offsets from `Layout.mmio`).
enum Register {
    static let bound: UInt64 = 0x00     // read: count the primes below this
    static let result: UInt64 = 0x08    // write: the count (the guest's last act)
    static let console: UInt64 = 0x10   // write: one character of text
}

/// The port the kernel prints to (0xE9, the "debug console" port of Bochs and QEMU).
let consolePort: UInt16 = 0xE9

// MARK: Segments

/// A flat segment (base 0, limit 4 GiB): its 8-byte GDT descriptor, and the same segment as a
/// `kvm_segment`, the form in which KVM_SET_SREGS loads it into a segment register directly.
struct FlatSegment {
    let selector: UInt16   // GDT index * 8, plus the requested privilege level in bits 0-1
    let isCode: Bool
    let privilegeLevel: UInt8

    /// Type: code 0xB (execute/read, accessed), data 0x3 (read/write, accessed).
    var type: UInt8 { isCode ? 0xB : 0x3 }

    var descriptor: UInt64 {
        0xFFFF                                  // limit 15:0 (19:16 below; with G: 4 GiB)
            | UInt64(type) << 40
            | 1 << 44                           // S: code or data (not a system segment)
            | UInt64(privilegeLevel) << 45      // DPL
            | 1 << 47                           // P: present
            | 0xF << 48                         // limit 19:16
            | (isCode ? 1 << 53 : 1 << 54)      // L: 64-bit code, or D/B: 32-bit data
            | 1 << 55                           // G: limit in 4 KiB units
    }

    var register: KVMSegment {
        var segment = KVMSegment()
        segment.selector = selector
        segment.base = 0
        segment.limit = 0xFFFF_FFFF
        segment.type = type
        segment.present = 1
        segment.dpl = privilegeLevel
        segment.s = 1
        segment.l = isCode ? 1 : 0
        segment.db = isCode ? 0 : 1      // must be 0 in a 64-bit code segment
        segment.g = 1
        return segment
    }
}

let kernelCode = FlatSegment(selector: 0x08, isCode: true, privilegeLevel: 0)
let kernelData = FlatSegment(selector: 0x10, isCode: false, privilegeLevel: 0)
let userData = FlatSegment(selector: 0x18 | 3, isCode: false, privilegeLevel: 3)
let userCode = FlatSegment(selector: 0x20 | 3, isCode: true, privilegeLevel: 3)
let taskStateSelector: UInt16 = 0x28
let taskStateSize: UInt64 = 104
let gdtLimit: UInt16 = 7 * 8 - 1

/// TR as KVM_SET_SREGS wants it: a present 64-bit TSS in its busy form (type 0xB), as if `ltr` had
/// loaded it (VMX refuses to enter a 64-bit guest without a usable TR).
var taskStateRegister: KVMSegment {
    var segment = KVMSegment()
    segment.selector = taskStateSelector
    segment.base = Layout.taskState
    segment.limit = UInt32(taskStateSize - 1)
    segment.type = 0xB
    segment.present = 1
    return segment
}

// MARK: Tables

/// Writes the page tables, the GDT and the TSS.
func writeSystemTables(into memory: GuestMemory) throws {
    // Page tables: PML4[0] → PDPT[0] → a page directory of 512 2 MiB pages = the first 1 GiB,
    // identity-mapped. Present | writable | user (so that CPL3 code may use it all) | 2 MiB page.
    let present: UInt64 = 1, writable: UInt64 = 1 << 1, user: UInt64 = 1 << 2, large: UInt64 = 1 << 7
    try memory.store(Layout.pdpt | present | writable | user, at: GuestAddress(Layout.pml4))
    try memory.store(Layout.pageDirectory | present | writable | user, at: GuestAddress(Layout.pdpt))
    for index in 0..<UInt64(512) {
        let entry = index << 21 | present | writable | user | large
        try memory.store(entry, at: GuestAddress(Layout.pageDirectory + index * 8))
    }

    // GDT: null, kernel code, kernel data, user data, user code, and the TSS descriptor (16 bytes:
    // limit, base, type 9 = available 64-bit TSS, present; then base 63:32 = 0).
    let taskStateDescriptor = (taskStateSize - 1) | (Layout.taskState & 0xFF_FFFF) << 16 | 0x9 << 40 | 1 << 47
    let gdt: [UInt64] = [0, kernelCode.descriptor, kernelData.descriptor, userData.descriptor,
                         userCode.descriptor, taskStateDescriptor, 0]
    for (index, entry) in gdt.enumerated() {
        try memory.store(entry, at: GuestAddress(Layout.gdt + UInt64(index) * 8))
    }

    // TSS: RSP0 (offset 4) is the stack the CPU would switch to if user code entered the kernel through
    // an interrupt (this guest never does); the I/O-bitmap offset (offset 102) points past the end:
    // no bitmap, so user code may not use ports.
    try memory.store(Layout.kernelStackTop, at: GuestAddress(Layout.taskState + 4))
    try memory.store(UInt16(taskStateSize), at: GuestAddress(Layout.taskState + 102))
}

// MARK: Code

/// The kernel (CPL0). On a PVM host every instruction of it is emulated, so it is short: it prints a
/// line to port 0xE9, halts once (the VMM resumes it), and `iretq`s to user mode.
func kernelProgram() -> MachineCode {
    var code = MachineCode(origin: Layout.kernelCode)
    code.emit(0xBE, addressOf: "message")           // mov esi, message
    code.bind("print")
    code.emit(0xAC)                                 // lodsb                  ; al = [rsi++]
    code.emit(0x84, 0xC0)                           // test al, al
    code.emit(0x74, relativeTo: "printed")          // jz printed
    code.emit(0xE6, 0xE9)                           // out 0xe9, al           ; exit: port I/O
    code.emit(0xEB, relativeTo: "print")            // jmp print
    code.bind("printed")
    code.emit(0xF4)                                 // hlt                    ; exit: halt
    // iretq pops RIP, CS, RFLAGS, RSP and SS: push them in reverse. Lowering CPL is what iretq is for.
    code.emit(0x6A, UInt8(userData.selector))       // push 0x1b              ; SS: user data, RPL 3
    code.emit(0x68, immediate: Layout.userStackTop, size: 4) // push 0x20000  ; RSP
    code.emit(0x6A, 0x02)                           // push 2                 ; RFLAGS: interrupts off
    code.emit(0x6A, UInt8(userCode.selector))       // push 0x23              ; CS: user code, RPL 3
    code.emit(0x68, immediate: Layout.userCode, size: 4) // push 0x9000       ; RIP
    code.emit(0x48, 0xCF)                           // iretq                  ; to CPL3
    code.bind("message")
    code.emit(data: Array("Hello from 64-bit kernel mode, port 0xE9\n".utf8) + [0])
    return code
}

/// User mode (CPL3, native): prints a line through the MMIO console register, reads the bound from
/// MMIO, counts the primes below it by trial division and writes the count to MMIO.
///
/// The count, in C: `count = 1 /* 2 */; for (n = 3; n < bound; n += 2) { for (d = 3; d * d <= n;
/// d += 2) if (n % d == 0) goto composite; count++; composite:; }`
func userProgram() -> MachineCode {
    var code = MachineCode(origin: Layout.userCode)
    code.emit(0x48, 0xBB, immediate: Layout.mmio, size: 8) // movabs rbx, 0x10000000 ; MMIO base
    code.emit(0xBE, addressOf: "message")           // mov esi, message
    code.bind("print")
    code.emit(0xAC)                                 // lodsb
    code.emit(0x84, 0xC0)                           // test al, al
    code.emit(0x74, relativeTo: "printed")          // jz printed
    code.emit(0x88, 0x43, UInt8(Register.console))  // mov [rbx + 0x10], al   ; exit: MMIO write
    code.emit(0xEB, relativeTo: "print")            // jmp print
    code.bind("printed")
    code.emit(0x8B, 0x0B)                           // mov ecx, [rbx]         ; exit: MMIO read (bound)
    code.emit(0x41, 0xB8, 1, 0, 0, 0)               // mov r8d, 1             ; count (the prime 2)
    code.emit(0xBE, 3, 0, 0, 0)                     // mov esi, 3             ; n
    code.bind("next_n")
    code.emit(0x39, 0xCE)                           // cmp esi, ecx
    code.emit(0x73, relativeTo: "done")             // jae done               ; n >= bound
    code.emit(0xBF, 3, 0, 0, 0)                     // mov edi, 3             ; d
    code.bind("next_d")
    code.emit(0x89, 0xF8)                           // mov eax, edi
    code.emit(0x0F, 0xAF, 0xC7)                     // imul eax, edi
    code.emit(0x39, 0xF0)                           // cmp eax, esi
    code.emit(0x77, relativeTo: "prime")            // ja prime               ; d * d > n
    code.emit(0x89, 0xF0)                           // mov eax, esi
    code.emit(0x31, 0xD2)                           // xor edx, edx
    code.emit(0xF7, 0xF7)                           // div edi                ; edx = n % d
    code.emit(0x85, 0xD2)                           // test edx, edx
    code.emit(0x74, relativeTo: "composite")        // jz composite
    code.emit(0x83, 0xC7, 0x02)                     // add edi, 2
    code.emit(0xEB, relativeTo: "next_d")           // jmp next_d
    code.bind("prime")
    code.emit(0x41, 0xFF, 0xC0)                     // inc r8d
    code.bind("composite")
    code.emit(0x83, 0xC6, 0x02)                     // add esi, 2
    code.emit(0xEB, relativeTo: "next_n")           // jmp next_n
    code.bind("done")
    code.emit(0x4C, 0x89, 0x43, UInt8(Register.result)) // mov [rbx + 8], r8  ; exit: MMIO write (result)
    code.bind("end")                                // the VMM does not run the vCPU again
    code.emit(0xEB, relativeTo: "end")              // jmp end
    code.bind("message")
    code.emit(data: Array("Hello from user mode, MMIO console\n".utf8) + [0])
    return code
}
