// The code of Sources/KVM/KVM.docc/BuildAVMM.md, compiled and run. Each region between
// `// snippet: NAME` and `// end-snippet` is one of the article's code blocks, verbatim (the test
// `articleCodeIsThisFilesCode` compares them), so the article cannot drift from code that builds.

import DeviceBus
import Glibc
import KernelImageFixtures
import KVM
import KVMBindings
import LegacyDevices
import LinuxLoader
import Synchronization
import Testing
import X86Assembler
import X86Setup

// snippet: hello
import KVM
import KVMBindings

struct UnexpectedExit: Error { var exit: String }

/// Real mode, no setup at all: the vCPU starts at 0x1000 and prints "Hi" to port 0x3F8.
func hello() throws -> String {
    let kvm = try KVMSystem()
    let vm = try kvm.createVM()
    try vm.mapMemory(slot: 0, at: 0, size: 0x1_0000)
    // mov dx, 0x3f8; mov al, 'H'; out dx, al; mov al, 'i'; out dx, al; hlt
    try vm.memory.write(bytes: [0xBA, 0xF8, 0x03, 0xB0, 0x48, 0xEE, 0xB0, 0x69, 0xEE, 0xF4], at: 0x1000)

    let vcpu = try vm.createVCPU(id: 0)
    var special = try vcpu.specialRegisters()
    special.cs.base = 0
    special.cs.selector = 0
    try vcpu.setSpecialRegisters(special)
    var registers = KVMRegs()
    registers.rip = 0x1000
    registers.rflags = 0x2  // bit 1 is always set
    try vcpu.setRegisters(registers)

    var output = ""
    while true {
        switch try vcpu.run() {
        case .io(let io) where io.direction == .out && io.port == 0x3F8:
            output.append(Character(UnicodeScalar(UInt8(truncatingIfNeeded: io.value))))
        case .halt:
            return output
        case let exit:
            throw UnexpectedExit(exit: "\(exit)")
        }
    }
}
// end-snippet

// snippet: long-mode
import X86Assembler
import X86Setup

/// 64-bit mode from the first instruction: X86Setup writes page tables, GDT and TSS and gives the
/// entry state; X86Assembler encodes the guest.
func longMode() throws -> UInt64 {
    let kvm = try KVMSystem()
    let vm = try kvm.createVM()
    try vm.mapMemory(slot: 0, at: 0, size: 0x20_0000)
    let setup = try LongModeSetup.write(into: vm.memory, layout: LongModeSetup.Layout(identityMappedSize: 0x20_0000))

    var code = LongModeCode(origin: 0x10_0000)
    code.mov(.eax, 0x6C6F6E67)  // "long"
    code.out(port: 0x80)
    code.hlt()
    try vm.memory.write(bytes: try code.assemble(), at: 0x10_0000)

    let vcpu = try vm.createVCPU(id: 0)
    try vcpu.setCPUID(CPUIDPolicy().entries(for: 0, cpuCount: 1, from: try kvm.supportedCPUID()))  // before EFER.LME
    try vcpu.setSpecialRegisters(setup.kernelEntry.applied(to: try vcpu.specialRegisters()))
    try vcpu.setRegisters(EntryState.registers(rip: 0x10_0000, rsp: 0x8000))

    while true {
        switch try vcpu.run() {
        case .io(let io) where io.port == 0x80: return try vcpu.registers().rax
        case let exit: throw UnexpectedExit(exit: "\(exit)")
        }
    }
}
// end-snippet

// snippet: devices
import DeviceBus
import LegacyDevices

/// Devices on a bus: a 16550A UART at COM1 and QEMU's isa-debug-exit port. The run loop hands every
/// port I/O exit to the bus; a device's request (here the debug exit) ends the run.
func devices(program: [UInt8]) throws -> (output: [UInt8], status: Int32) {
    let kvm = try KVMSystem()
    let vm = try kvm.createVM()
    try vm.mapMemory(slot: 0, at: 0, size: 0x1_0000)
    try vm.memory.write(bytes: program, at: 0x1000)

    let output = Mutex<[UInt8]>([])
    let uart = Serial16550A { byte in output.withLock { $0.append(byte) } }
    var bus = MachineBus()
    try bus.portIO.register(uart, base: 0x3F8, size: Serial16550A.size)
    try bus.portIO.register(DebugExitPort(), base: DebugExitPort.defaultAddress, size: DebugExitPort.size)

    let vcpu = try vm.createVCPU(id: 0)
    var special = try vcpu.specialRegisters()
    special.cs.base = 0
    special.cs.selector = 0
    try vcpu.setSpecialRegisters(special)
    try vcpu.setRegisters(EntryState.registers(rip: 0x1000))

    while true {
        let exit = try vcpu.run()
        guard case .io(let io) = exit else { throw UnexpectedExit(exit: "\(exit)") }
        if case .request(.exit(let status)) = try bus.handle(io, on: vcpu) {
            return (output.withLock { $0 }, status)
        }
    }
}
// end-snippet

// snippet: linux
import LinuxLoader

/// Linux: LinuxLoader loads the kernel (bzImage, PVH vmlinux or multiboot) with its command line and
/// e820 map; X86Setup gives the boot GDT, identity page tables and the entry state the protocol wants.
func loadLinux(kernel: any ImageSource, commandLine: String, into vm: VirtualMachine, vcpu: VCPU) throws -> LoadedKernel {
    let map = MemoryMap(ramSize: 64 << 20)
    for (slot, range) in map.slots.enumerated() {
        try vm.mapMemory(slot: UInt32(slot), at: GuestAddress(range.address), size: Int(range.size))
    }
    let loaded = try KernelLoader(memoryMap: map).load(kernel: kernel, commandLine: commandLine, into: vm.memory)

    let gdt: GuestAddress = 0x500, idt: GuestAddress = 0x540, pml4: GuestAddress = 0x9000
    try LinuxBootGDT.write(into: vm.memory, gdt: gdt, idt: idt)
    let entry: X86Setup.EntryState
    if loaded.entry.mode == .longMode64 {
        var tables = try PageTableBuilder(at: pml4)
        try tables.identityMap(size: 4 << 30, pageSize: .size2MiB)
        entry = LinuxBootGDT.longModeEntry(gdt: gdt, idt: idt, cr3: try tables.write(into: vm.memory))
    } else {
        entry = LinuxBootGDT.protectedModeEntry(gdt: gdt, idt: idt)
    }
    try vcpu.setSpecialRegisters(entry.applied(to: try vcpu.specialRegisters()))
    try vcpu.setRegisters(X86Setup.EntryState.registers(rip: loaded.entry.instructionPointer.rawValue) { registers in
        registers.rsi = loaded.entry.rsi  // the zero page (64-bit boot protocol)
        registers.rbx = loaded.entry.rbx  // start_info (PVH) or the multiboot information
        registers.rax = loaded.entry.rax  // the multiboot magic
    })
    return loaded
}
// end-snippet

/// The article's code blocks and this file's snippets, in order.
enum Article {
    static var articlePath: String {
        var components = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)  // Tests/DocumentationTests/BuildAVMMTests.swift
        return components.joined(separator: "/") + "/Sources/KVM/KVM.docc/BuildAVMM.md"
    }

    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The contents of every ```swift block.
    static func codeBlocks(of markdown: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```swift" {
                current = []
            } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    /// The regions between `// snippet:` and `// end-snippet`.
    static func snippets(of source: String) -> [String] {
        var snippets: [String] = []
        var current: [Substring]?
        for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("// snippet: ") {
                current = []
            } else if line == "// end-snippet" {
                snippets.append(current!.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return snippets
    }
}

@Suite struct BuildAVMMArticle {
    @Test func articleCodeIsThisFilesCode() throws {
        let article = try #require(Article.read(Article.articlePath), "cannot read \(Article.articlePath)")
        let source = try #require(Article.read(#filePath))
        let blocks = Article.codeBlocks(of: article)
        let snippets = Article.snippets(of: source)
        #expect(snippets.count == 4)
        #expect(blocks == snippets, "BuildAVMM.md's code blocks differ from the snippets in BuildAVMMTests.swift")
    }
}

@Suite(.enabled(if: access("/dev/kvm", R_OK | W_OK) == 0, "/dev/kvm is absent or not accessible: these tests run guests"))
struct BuildAVMMGuests {
    @Test func helloPrints() throws {
        #expect(try hello() == "Hi")
    }

    @Test func longModeReachesItsPort() throws {
        #expect(try longMode() == 0x6C6F_6E67)
    }

    @Test func devicesPrintThroughTheUARTAndExit() throws {
        // mov dx, 0x3f8; mov al, 'O'; out dx, al; mov al, 'K'; out dx, al; mov dx, 0xf4; mov al, 3; out dx, al; hlt
        let program: [UInt8] = [0xBA, 0xF8, 0x03, 0xB0, 0x4F, 0xEE, 0xB0, 0x4B, 0xEE, 0xBA, 0xF4, 0x00, 0xB0, 0x03, 0xEE, 0xF4]
        let (output, status) = try devices(program: program)
        #expect(output == Array("OK".utf8))
        #expect(status == DebugExitPort.status(for: 3))
    }

    @Test func linuxLoadsAndItsEntryRuns() throws {
        // A bzImage whose 64-bit entry checks the zero page's "HdrS", prints and resets through the i8042.
        let image = ImageBytes(FakeKernel.bzImage(code64: FakeKernel.printAndReset64("booted")))
        let kvm = try KVMSystem()
        let vm = try kvm.createVM()
        let vcpu = try vm.createVCPU(id: 0)
        try vcpu.setCPUID(CPUIDPolicy().entries(for: 0, cpuCount: 1, from: try kvm.supportedCPUID()))
        let loaded = try loadLinux(kernel: image, commandLine: "console=ttyS0", into: vm, vcpu: vcpu)
        #expect(loaded.entry.mode == .longMode64)
        var output: [UInt8] = []
        loop: while true {
            let exit = try vcpu.run()
            switch exit {
            case .io(let io) where io.port == 0x3F8 && io.direction == .out: output.append(UInt8(truncatingIfNeeded: io.value))
            case .io(let io) where io.port == 0x64: break loop  // the i8042 reset command
            default: Issue.record("unexpected exit \(exit)"); break loop
            }
        }
        #expect(String(decoding: output, as: UTF8.self) == "booted")
    }
}
