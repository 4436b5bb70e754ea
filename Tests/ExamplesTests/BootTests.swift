import Foundation
import Testing

// `boot`, the Linux VMM, without a Linux kernel: synthetic bzImage and PVH vmlinux images built here.
// `BootStructures` checks what the VMM writes for a kernel (`--dry-run`: no vCPU runs and no /dev/kvm is
// needed): the zero page and its e820 map, start_info, the command line and initrd placement, the ACPI
// tables and their checksums, and the loader's refusals. `ExampleTests.Boot` runs tiny hand-assembled
// "kernels" entered exactly as Linux is, which print to the UART and power off or reset.

/// Synthetic kernel images.
enum FakeKernel {
    /// Where a relocatable bzImage with `preferredAddress` 16 MiB is loaded, and its 64-bit entry.
    static let loadAddress: UInt64 = 0x100_0000
    static let entry64: UInt64 = loadAddress + 0x200

    /// A bzImage: boot sector and 4 setup sectors with a setup header, then the protected-mode kernel,
    /// whose 64-bit entry (offset 0x200) is `code64`, followed by `payload` (recorded in the header's
    /// payload_offset and payload_length when not empty).
    static func bzImage(
        code64: [UInt8], version: UInt16 = 0x020F, xloadflags: UInt16 = 0x3, magic: String = "HdrS",
        initrdAddressMax: UInt32 = 0x7FFF_FFFF, initSize: UInt32 = 0x40_0000, payload: [UInt8] = []
    ) -> [UInt8] {
        var image = [UInt8](repeating: 0, count: 5 * 512)
        func put<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
            for index in 0..<MemoryLayout<T>.size { image[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
        }
        put(UInt8(4), 0x1F1)  // setup_sects
        put(UInt16(0xAA55), 0x1FE)  // boot_flag
        put(UInt16(0x66EB), 0x200)  // jmp short to 0x268: the header ends at 0x202 + 0x66
        for (index, byte) in magic.utf8.enumerated() { image[0x202 + index] = byte }
        put(version, 0x206)
        put(UInt8(1), 0x211)  // loadflags: LOADED_HIGH
        put(UInt32(0x10_0000), 0x214)  // code32_start
        put(initrdAddressMax, 0x22C)
        put(UInt32(0x20_0000), 0x230)  // kernel_alignment
        put(UInt8(1), 0x234)  // relocatable_kernel
        put(xloadflags, 0x236)
        put(UInt32(2047), 0x238)  // cmdline_size
        put(loadAddress, 0x258)  // pref_address
        put(initSize, 0x260)
        if !payload.isEmpty {
            put(UInt32(0x200 + code64.count), 0x248)  // payload_offset, from the protected-mode code
            put(UInt32(payload.count), 0x24C)  // payload_length
        }
        return image + [UInt8](repeating: 0x90, count: 0x200) + code64 + payload
    }

    static let pvhLoadAddress: UInt64 = 0x10_0000

    /// An ELF64 vmlinux: one PT_LOAD of `code32` at 1 MiB and a PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY.
    static func pvhELF(code32: [UInt8], withNote: Bool = true) -> [UInt8] {
        var image = [UInt8](repeating: 0, count: 0x1000)
        func put<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
            for index in 0..<MemoryLayout<T>.size { image[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
        }
        image.replaceSubrange(0..<4, with: [0x7F, 0x45, 0x4C, 0x46])
        put(UInt8(2), 4)  // 64-bit
        put(UInt8(1), 5)  // little-endian
        put(UInt8(1), 6)  // EV_CURRENT
        put(UInt16(2), 16)  // ET_EXEC
        put(UInt16(62), 18)  // x86-64
        put(UInt32(1), 20)
        put(UInt64(0xFFFF_FFFF_8100_0000), 24)  // e_entry (virtual; not used by PVH)
        put(UInt64(64), 32)  // e_phoff
        put(UInt16(64), 52)  // e_ehsize
        put(UInt16(56), 54)  // e_phentsize
        put(UInt16(2), 56)  // e_phnum
        // PT_LOAD: file 0x1000 → physical 1 MiB.
        put(UInt32(1), 64)
        put(UInt32(5), 68)
        put(UInt64(0x1000), 72)
        put(UInt64(0xFFFF_FFFF_8100_0000), 80)
        put(pvhLoadAddress, 88)
        put(UInt64(code32.count), 96)
        put(UInt64(code32.count + 0x1000), 104)  // memsz > filesz: a bss
        // PT_NOTE at 0x200: a GNU note first, then the Xen PHYS32_ENTRY note.
        put(UInt32(4), 120)
        put(UInt64(0x200), 128)
        put(UInt64(0x200), 144)
        put(UInt64(48), 152)
        var note = [UInt8]()
        func word(_ value: UInt32) { for index in 0..<4 { note.append(UInt8(truncatingIfNeeded: value >> (8 * index))) } }
        word(4); word(4); word(3); note += Array("GNU\0".utf8); word(0x1234_5678)
        word(4); word(4); word(withNote ? 18 : 17); note += Array("Xen\0".utf8); word(UInt32(pvhLoadAddress))
        image.replaceSubrange(0x200..<(0x200 + note.count), with: note)
        return image + code32
    }

    /// 64-bit: checks RSI points at the zero page ("HdrS" at +0x202), prints `message` on COM1, then
    /// asks the i8042 for a reset.
    static func printAndReset64(_ message: String) -> [UInt8] {
        [0x8B, 0x86, 0x02, 0x02, 0x00, 0x00,  // 0: mov eax, [rsi+0x202]
         0x3D, 0x48, 0x64, 0x72, 0x53,  // 6: cmp eax, "HdrS"
         0x75, 0x17,  // 11: jne hang (36)
         0x48, 0x8D, 0x35, 0x13, 0x00, 0x00, 0x00,  // 13: lea rsi, [rip + 19] (message, 39)
         0x66, 0xBA, 0xF8, 0x03,  // 20: mov dx, 0x3f8
         0xAC,  // 24: lodsb
         0x84, 0xC0,  // 25: test al, al
         0x74, 0x03,  // 27: jz done (32)
         0xEE,  // 29: out dx, al
         0xEB, 0xF8,  // 30: jmp 24
         0xB0, 0xFE,  // 32: done: mov al, 0xfe
         0xE6, 0x64,  // 34: out 0x64, al (i8042: pulse reset)
         0xF4,  // 36: hang: hlt
         0xEB, 0xFD]  // 37: jmp hang
            + Array(message.utf8) + [0]  // 39
    }

    /// 32-bit (PVH): checks EBX points at start_info (its magic), prints `message`, then powers off
    /// through the ACPI sleep control register (SLP_TYP 5, SLP_EN).
    static func printAndPowerOff32(_ message: String) -> [UInt8] {
        let messageAddress = UInt32(pvhLoadAddress) + 35
        return [0x81, 0x3B, 0x78, 0xC5, 0x6E, 0x33,  // 0: cmp dword [ebx], 0x336ec578
                0x75, 0x18,  // 6: jne hang (32)
                0xBE] + withUnsafeBytes(of: messageAddress.littleEndian, Array.init)  // 8: mov esi, message
            + [0x66, 0xBA, 0xF8, 0x03,  // 13: mov dx, 0x3f8
               0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8,  // 17: print loop, done at 25
               0x66, 0xBA, 0x00, 0x06,  // 25: mov dx, 0x600
               0xB0, 0x34,  // 29: mov al, 5 << 2 | 0x20
               0xEE,  // 31: out dx, al
               0xF4, 0xEB, 0xFD]  // 32: hang
            + Array(message.utf8) + [0]  // 35
    }

    /// 64-bit, position-independent: prints the NUL-terminated `message` that follows, then asks the
    /// i8042 for a reset.
    static func printTail64(_ message: String) -> [UInt8] {
        [0x48, 0x8D, 0x35, 0x13, 0x00, 0x00, 0x00,  // T+0: lea rsi, [rip + 19] (message, T+26)
         0x66, 0xBA, 0xF8, 0x03,  // T+7: mov dx, 0x3f8
         0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8,  // T+11: lodsb; test; jz T+19; out; jmp T+11
         0xB0, 0xFE, 0xE6, 0x64,  // T+19: i8042 reset
         0xF4, 0xEB, 0xFD]  // T+23: hlt; jmp T+23
            + Array(message.utf8) + [0]  // T+26
    }

    /// 64-bit: ldmxcsr then stmxcsr through SIB + disp8 memory operands; prints `message` if the value
    /// came back, else executes ud2 (a triple fault: no IDT).
    static func mxcsrRoundTrip64(_ message: String) -> [UInt8] {
        let tail = printTail64(message)
        return [0xC7, 0x44, 0x24, 0xF8, 0x80, 0x3F, 0x00, 0x00,  // 0: mov dword [rsp-8], 0x3F80 (round down, all masked)
                0x0F, 0xAE, 0x54, 0x24, 0xF8,  // 8: ldmxcsr [rsp-8]
                0x0F, 0xAE, 0x5C, 0x24, 0xF0,  // 13: stmxcsr [rsp-16]
                0x8B, 0x44, 0x24, 0xF0,  // 18: mov eax, [rsp-16]
                0x3D, 0x80, 0x3F, 0x00, 0x00,  // 22: cmp eax, 0x3F80
                0x75, UInt8(tail.count)]  // 27: jne bad
            + tail + [0x0F, 0x0B]  // 29: print and reset; bad: ud2
    }

    /// 64-bit SMP: the boot vCPU writes a real-mode trampoline at 0x3000, starts vCPU 1 with INIT and
    /// SIPI (vector 3) through its local APIC (MMIO at 0xFEE00000), waits for the flag the trampoline
    /// sets at 0x3100 after printing "AP up", then prints `message` and resets.
    static func startSecondaryCPU64(_ message: String) -> [UInt8] {
        let trampoline: [UInt8] = [
            0xBA, 0xF8, 0x03,  // mov dx, 0x3f8
            0xB0, 0x41, 0xEE, 0xB0, 0x50, 0xEE, 0xB0, 0x20, 0xEE,  // "AP "
            0xB0, 0x75, 0xEE, 0xB0, 0x70, 0xEE, 0xB0, 0x0A, 0xEE,  // "up\n"
            0xC6, 0x06, 0x00, 0x31, 0x01,  // mov byte [0x3100], 1
            0xFA, 0xF4, 0xEB, 0xFD,  // cli; hlt; jmp hlt
            0x90, 0x90,
        ]
        var code: [UInt8] = []
        for chunk in 0..<(trampoline.count / 8) {
            let value = trampoline[(chunk * 8)..<(chunk * 8 + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
            code += [0x48, 0xB8] + withUnsafeBytes(of: value.littleEndian, Array.init)  // mov rax, imm64
            code += [0x48, 0x89, 0x04, 0x25] + withUnsafeBytes(of: UInt32(0x3000 + chunk * 8).littleEndian, Array.init)  // mov [abs], rax
        }
        code += [0xBB, 0x00, 0x00, 0xE0, 0xFE]  // mov ebx, 0xFEE00000 (the LAPIC)
        code += [0xC7, 0x83, 0x10, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]  // ICR high: destination APIC id 1
        code += [0xC7, 0x83, 0x00, 0x03, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00]  // ICR low: INIT, assert
        code += [0xC7, 0x83, 0x10, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]
        code += [0xC7, 0x83, 0x00, 0x03, 0x00, 0x00, 0x03, 0x46, 0x00, 0x00]  // ICR low: SIPI, vector 3 (0x3000)
        code += [0x80, 0x3C, 0x25, 0x00, 0x31, 0x00, 0x00, 0x01, 0x75, 0xF6]  // wait: cmp byte [0x3100], 1; jne wait
        return code + printTail64(message)
    }

    /// 64-bit: loads an IDT whose vector 3 is an interrupt gate, executes int3, and in the handler
    /// checks that the pushed return address is the byte after the int3, prints, and resets.
    static func breakpoint64(ok: String, bad: String) -> [UInt8] {
        let base = entry64
        var code: [UInt8] = [
            0x48, 0x8D, 0x05, 0x39, 0x00, 0x00, 0x00,  // 0: lea rax, [rip + 57] (idtr, 64)
            0x0F, 0x01, 0x18,  // 7: lidt [rax]
            0xCC,  // 10: int3
            0xF4, 0xEB, 0xFD,  // 11: hlt; jmp 11 (not reached: the handler resets)
            0x48, 0x8B, 0x04, 0x24,  // 14: handler: mov rax, [rsp] (return RIP)
            0x48, 0x8D, 0x1D, 0xF2, 0xFF, 0xFF, 0xFF,  // 18: lea rbx, [rip - 14] (11)
            0x48, 0x39, 0xD8,  // 25: cmp rax, rbx
            0x48, 0x8D, 0x35, 0x6D, 0x00, 0x00, 0x00,  // 28: lea rsi, [rip + 109] (ok, 144)
            0x74, 0x07,  // 35: je print (44)
        ]
        let badOffset = 144 + ok.utf8.count + 1
        code += [0x48, 0x8D, 0x35] + withUnsafeBytes(of: Int32(badOffset - 44).littleEndian, Array.init)  // 37: lea rsi, bad
        code += [0x66, 0xBA, 0xF8, 0x03, 0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8,  // 44: print loop, done at 56
                 0xB0, 0xFE, 0xE6, 0x64,  // 56: i8042 reset
                 0xF4, 0xEB, 0xFD, 0x90]  // 60: hang; pad to 64
        code += withUnsafeBytes(of: UInt16(0x3F).littleEndian, Array.init)  // 64: IDTR limit (4 gates)
        code += withUnsafeBytes(of: (base + 80).littleEndian, Array.init)  // 66: IDTR base
        code += [UInt8](repeating: 0, count: 80 - code.count)
        var idt = [UInt8](repeating: 0, count: 64)
        let handler = base + 14
        let gate: [UInt8] = [UInt8(handler & 0xFF), UInt8((handler >> 8) & 0xFF), 0x10, 0x00, 0x00, 0x8E,
                             UInt8((handler >> 16) & 0xFF), UInt8((handler >> 24) & 0xFF)]
            + withUnsafeBytes(of: UInt32(truncatingIfNeeded: handler >> 32).littleEndian, Array.init) + [0, 0, 0, 0]
        idt.replaceSubrange(48..<64, with: gate)
        return code + idt + Array(ok.utf8) + [0] + Array(bad.utf8) + [0]
    }
}

/// Files in a fresh temporary directory.
final class BootScratch {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("boot-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }
}

/// `boot --dry-run`'s output, parsed.
struct BootDryRun {
    var fields: [String: String] = [:]
    var dumps: [String: (address: UInt64, bytes: [UInt8])] = [:]

    init(_ text: String) {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            if parts[0] == "dump" {
                let dump = parts[1].split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                let hexText = dump.count > 2 ? Array(dump[2].utf8) : []
                let bytes = stride(from: 0, to: hexText.count - 1, by: 2).map { UInt8(String(decoding: hexText[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
                dumps[dump[0]] = (UInt64(dump[1].dropFirst(2), radix: 16)!, bytes)
            } else {
                fields[parts[0]] = parts[1]
            }
        }
    }

    func bytes(_ name: String) -> [UInt8] { dumps[name]?.bytes ?? [] }
}

func littleEndian<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, as _: T.Type = T.self) -> T {
    (0..<MemoryLayout<T>.size).reduce(T(0)) { $0 | T(bytes[offset + $1]) << (8 * $1) }
}

@Suite struct BootStructures {
    static func dryRun(_ arguments: [String]) throws -> (ExampleRunner.Output, BootDryRun) {
        let output = try ExampleRunner.run("boot", arguments: arguments + ["--dry-run"])
        return (output, BootDryRun(output.standardOutput))
    }

    @Test func bzImageZeroPageE820CommandLineAndInitrd() throws {
        let scratch = try BootScratch()
        let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: FakeKernel.printAndReset64("x")))
        let initrd = try scratch.file("initrd", [UInt8](repeating: 0xA5, count: 5000))
        let (output, plan) = try Self.dryRun(["--kernel", kernel, "--initrd", initrd, "--cmdline", "console=ttyS0 quiet", "--memory", "64"])
        #expect(output.status == 0, "\(output.standardError)")
        #expect(plan.fields["format"] == "bzImage 0x020f")
        #expect(plan.fields["mode"] == "64-bit")
        #expect(plan.fields["entry"] == "0x1000200", "relocatable: loaded at pref_address, entered at +0x200")
        #expect(plan.fields["argument"] == "0x7000")

        let zero = plan.bytes("zeropage")
        try #require(zero.count == 4096)
        #expect(Array(zero[0x202..<0x206]) == Array("HdrS".utf8), "the setup header is copied")
        #expect(zero[0x210] == 0xFF, "type_of_loader")
        #expect(zero[0x211] & 1 == 1, "LOADED_HIGH")
        #expect(littleEndian(zero, 0x214, as: UInt32.self) == 0x100_0000, "code32_start = load address")
        #expect(littleEndian(zero, 0x228, as: UInt32.self) == 0x2_0000, "cmd_line_ptr")
        #expect(littleEndian(zero, 0x070, as: UInt64.self) == 0xE_0000, "acpi_rsdp_addr")
        let ramdisk = littleEndian(zero, 0x218, as: UInt32.self)
        #expect(littleEndian(zero, 0x21C, as: UInt32.self) == 5000)
        #expect(ramdisk % 4096 == 0 && UInt64(ramdisk) + 5000 <= 64 << 20 && UInt64(ramdisk) + 5000 > (64 << 20) - 8192,
                "initrd at the top of low RAM, page-aligned: \(ramdisk)")
        #expect(plan.fields["initrd"] == "0x\(String(ramdisk, radix: 16)) 5000")

        // e820: RAM below the EBDA, EBDA reserved, BIOS area reserved, RAM from 1 MiB to the end.
        #expect(zero[0x1E8] == 4)
        let entries = (0..<4).map { index -> (UInt64, UInt64, UInt32) in
            let offset = 0x2D0 + index * 20
            return (littleEndian(zero, offset), littleEndian(zero, offset + 8), littleEndian(zero, offset + 16))
        }
        #expect(entries[0] == (0, 0x9_FC00, 1))
        #expect(entries[1] == (0x9_FC00, 0x400, 2))
        #expect(entries[2] == (0xE_0000, 0x2_0000, 2))
        #expect(entries[3] == (0x10_0000, (64 << 20) - 0x10_0000, 1))

        #expect(plan.bytes("cmdline") == Array("console=ttyS0 quiet".utf8) + [0])
        #expect(plan.bytes("code") == Array(FakeKernel.printAndReset64("x").prefix(64)) + [UInt8](repeating: 0, count: max(0, 64 - FakeKernel.printAndReset64("x").count)),
                "the 64-bit entry's bytes are at load + 0x200")
        // GDT: 64-bit code at 0x10 (__BOOT_CS), flat data at 0x18 (__BOOT_DS).
        let gdt = plan.bytes("gdt")
        #expect(littleEndian(gdt, 0x10, as: UInt64.self) == 0x00AF_9B00_0000_FFFF)
        #expect(littleEndian(gdt, 0x18, as: UInt64.self) == 0x00CF_9300_0000_FFFF)
        #expect(littleEndian(plan.bytes("pml4"), 0, as: UInt64.self) == 0xA003, "PML4[0] → PDPT, present + writable")
    }

    @Test func acpiTablesHaveValidChecksumsAndOneLAPICPerCPU() throws {
        let scratch = try BootScratch()
        let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: FakeKernel.printAndReset64("x")))
        let (output, plan) = try Self.dryRun(["--kernel", kernel, "--cpus", "3", "--memory", "64"])
        #expect(output.status == 0, "\(output.standardError)")
        let acpi = try #require(plan.dumps["acpi"])
        #expect(acpi.address == 0xE_0000)
        let blob = acpi.bytes
        func sum(_ range: Range<Int>) -> UInt8 { blob[range].reduce(0, &+) }
        #expect(Array(blob[0..<8]) == Array("RSD PTR ".utf8))
        #expect(sum(0..<20) == 0, "RSDP checksum (first 20 bytes)")
        #expect(sum(0..<36) == 0, "RSDP extended checksum")
        #expect(blob[15] == 2, "ACPI 2.0+ RSDP")
        func table(at address: UInt64) -> (signature: String, bytes: Range<Int>) {
            let offset = Int(address - acpi.address)
            let length = Int(littleEndian(blob, offset + 4, as: UInt32.self))
            return (String(decoding: blob[offset..<(offset + 4)], as: UTF8.self), offset..<(offset + length))
        }
        let xsdt = table(at: littleEndian(blob, 24, as: UInt64.self))
        #expect(xsdt.signature == "XSDT")
        #expect(sum(xsdt.bytes) == 0)
        let entries = (0..<((xsdt.bytes.count - 36) / 8)).map { table(at: littleEndian(blob, xsdt.bytes.lowerBound + 36 + $0 * 8, as: UInt64.self)) }
        #expect(entries.map(\.signature) == ["FACP", "APIC"])
        for entry in entries { #expect(sum(entry.bytes) == 0, "\(entry.signature) checksum") }

        let fadt = entries[0].bytes.lowerBound
        #expect(littleEndian(blob, fadt + 112, as: UInt32.self) & (1 << 20) != 0, "HW_REDUCED_ACPI")
        let dsdt = table(at: littleEndian(blob, fadt + 140, as: UInt64.self))
        #expect(dsdt.signature == "DSDT" && sum(dsdt.bytes) == 0)
        #expect(String(decoding: blob[dsdt.bytes], as: UTF8.self).contains("_S5_"))
        #expect(littleEndian(blob, fadt + 244 + 4, as: UInt64.self) == 0x600, "sleep control register: port 0x600")

        // MADT: LAPIC entries (type 0) with APIC ids 0, 1, 2, then one IOAPIC (type 1).
        let madt = entries[1].bytes
        var cursor = madt.lowerBound + 44
        var lapicIDs: [UInt8] = []
        var ioapics = 0
        while cursor < madt.upperBound {
            let type = blob[cursor], length = Int(blob[cursor + 1])
            try #require(length > 0)
            if type == 0 { lapicIDs.append(blob[cursor + 3]); #expect(blob[cursor + 4] & 1 == 1, "enabled") }
            if type == 1 { ioapics += 1; #expect(littleEndian(blob, cursor + 4, as: UInt32.self) == 0xFEC0_0000) }
            cursor += length
        }
        #expect(lapicIDs == [0, 1, 2])
        #expect(ioapics == 1)
    }

    @Test func pvhStartInfoMemmapAndInitrdModule() throws {
        let scratch = try BootScratch()
        let kernel = try scratch.file("vmlinux", FakeKernel.pvhELF(code32: FakeKernel.printAndPowerOff32("x")))
        let initrd = try scratch.file("initrd", [UInt8](repeating: 1, count: 10000))
        let (output, plan) = try Self.dryRun(["--kernel", kernel, "--initrd", initrd, "--memory", "32", "--cmdline", "pvh"])
        #expect(output.status == 0, "\(output.standardError)")
        #expect(plan.fields["format"] == "pvh")
        #expect(plan.fields["mode"] == "32-bit")
        #expect(plan.fields["entry"] == "0x100000", "from the XEN_ELFNOTE_PHYS32_ENTRY note, past a GNU note")
        #expect(plan.fields["argument"] == "0x6000")
        let info = plan.bytes("startinfo")
        try #require(info.count == 56)
        #expect(littleEndian(info, 0, as: UInt32.self) == 0x336E_C578)
        #expect(littleEndian(info, 4, as: UInt32.self) == 1, "version 1: has the memmap")
        #expect(littleEndian(info, 12, as: UInt32.self) == 1, "one module: the initrd")
        #expect(littleEndian(info, 24, as: UInt64.self) == 0x2_0000, "cmdline_paddr")
        #expect(littleEndian(info, 32, as: UInt64.self) == 0xE_0000, "rsdp_paddr")
        #expect(littleEndian(info, 48, as: UInt32.self) == 4, "memmap_entries")
        let module = plan.bytes("modlist")
        let initrdAddress = littleEndian(module, 0, as: UInt64.self)
        #expect(littleEndian(module, 8, as: UInt64.self) == 10000)
        #expect(initrdAddress % 4096 == 0 && initrdAddress + 10000 <= 32 << 20 && initrdAddress >= 0x10_0000)
        let memmap = plan.bytes("memmap")
        #expect(littleEndian(memmap, 3 * 24, as: UInt64.self) == 0x10_0000)
        #expect(littleEndian(memmap, 3 * 24 + 8, as: UInt64.self) == (32 << 20) - 0x10_0000)
        #expect(littleEndian(memmap, 3 * 24 + 16, as: UInt32.self) == 1)
        #expect(Array(plan.bytes("code").prefix(6)) == [0x81, 0x3B, 0x78, 0xC5, 0x6E, 0x33], "PT_LOAD copied to its p_paddr")
    }

    @Test(arguments: [
        (FakeKernel.bzImage(code64: [0xF4], magic: "NoHd"), "not a bzImage"),
        (FakeKernel.bzImage(code64: [0xF4], version: 0x0205), "older than 2.06"),
        (FakeKernel.bzImage(code64: [0xF4], xloadflags: 0), "XLF_KERNEL_64"),
        (FakeKernel.pvhELF(code32: [0xF4], withNote: false), "no PVH entry point"),
        ([UInt8](repeating: 0, count: 100), "too small"),
    ])
    func refusesKernelsItCannotBoot(image: [UInt8], reason: String) throws {
        let scratch = try BootScratch()
        let kernel = try scratch.file("kernel", image)
        let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--dry-run"])
        #expect(output.status == 3)
        #expect(output.standardError.contains(reason), "\(output.standardError)")
    }

    @Test func refusesAnInitrdThatDoesNotFit() throws {
        let scratch = try BootScratch()
        let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: [0xF4], initrdAddressMax: 0x100_FFFF))
        let initrd = try scratch.file("initrd", [UInt8](repeating: 0, count: 0x10000))
        let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--initrd", initrd, "--dry-run", "--memory", "64"])
        #expect(output.status == 3)
        #expect(output.standardError.contains("initrd"), "\(output.standardError)")
    }

    @Test(arguments: [
        (["--memory", "64"], "--kernel is required"),
        (["--kernel", "k", "--cpus", "0"], "not a positive number"),
        (["--kernel", "k", "--cpuid-clear", "1.xyz.3"], "LEAF[.SUBLEAF].REG.BIT"),
        (["--kernel", "k", "--bogus"], "unknown argument"),
        (["--kernel", "k", "--symbols", "System.map"], "--symbols needs --profile-guest"),
        (["--kernel", "k", "--decompress", "both"], "is not host or guest"),
    ])
    func usageErrors(arguments: [String], message: String) throws {
        let output = try ExampleRunner.run("boot", arguments: arguments)
        #expect(output.status == 2)
        #expect(output.standardError.contains(message), "\(output.standardError)")
    }
}

extension ExampleTests {
    /// Hand-assembled kernels entered exactly as Linux is: 64-bit boot protocol and PVH.
    @Suite struct Boot {
        @Test func bzImageEntryPrintsAndResetsThroughTheI8042() throws {
            let scratch = try BootScratch()
            let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: FakeKernel.printAndReset64("Linux version test\n")))
            let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--timeout", "30"])
            #expect(output.status == 0, "\(output.standardError)")
            #expect(output.standardOutput == "Linux version test\n")
            #expect(output.standardError.contains("i8042 reset"), "\(output.standardError)")
        }

        @Test func pvhEntryPrintsAndPowersOffThroughACPI() throws {
            let scratch = try BootScratch()
            let kernel = try scratch.file("vmlinux", FakeKernel.pvhELF(code32: FakeKernel.printAndPowerOff32("Linux version test (PVH)\n")))
            let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "32", "--timeout", "30", "--cpus", "2"])
            #expect(output.status == 0, "\(output.standardError)")
            #expect(output.standardOutput == "Linux version test (PVH)\n")
            #expect(output.standardError.contains("ACPI S5"), "\(output.standardError)")
        }

        /// int3 at CPL0 reaches the guest's #BP handler with the right frame, whether the CPU runs it
        /// (hardware virtualization) or the VMM delivers it (hosts whose KVM cannot emulate it).
        @Test func kernelInt3ReachesTheGuestHandler() throws {
            let scratch = try BootScratch()
            let code = FakeKernel.breakpoint64(ok: "Linux version test: int3 handled\n", bad: "bad int3 frame\n")
            let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: code))
            let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--timeout", "30"])
            #expect(output.status == 0, "\(output.standardError)")
            #expect(output.standardOutput == "Linux version test: int3 handled\n", "\(output.standardError)")
        }

        /// MXCSR loads and stores at CPL0, whether the CPU runs them or the VMM completes them (hosts whose
        /// KVM cannot emulate them).
        @Test func mxcsrLoadAndStoreAtCPL0() throws {
            let scratch = try BootScratch()
            let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: FakeKernel.mxcsrRoundTrip64("Linux version test: mxcsr round trip\n")))
            let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--timeout", "30"])
            #expect(output.status == 0, "\(output.standardError)")
            #expect(output.standardOutput == "Linux version test: mxcsr round trip\n", "\(output.standardError)")
        }

        /// The second vCPU waits in KVM (wait-for-SIPI, in-kernel LAPIC) until the first starts it.
        @Test func secondaryVCPUStartsOnINITAndSIPI() throws {
            let scratch = try BootScratch()
            let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: FakeKernel.startSecondaryCPU64("Linux version test: BSP saw the AP\n")))
            let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--cpus", "2", "--timeout", "30"])
            #expect(output.status == 0, "\(output.standardError)")
            #expect(output.standardOutput == "AP up\nLinux version test: BSP saw the AP\n", "\(output.standardError)")
        }

        @Test func tripleFaultIsAFailureWithARegisterDump() throws {
            let scratch = try BootScratch()
            let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: [0x0F, 0x0B]))  // ud2, no IDT
            let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--timeout", "30"])
            #expect(output.status == 1, "\(output.standardError)")
            #expect(output.standardError.contains("guest failure"), "\(output.standardError)")
            #expect(output.standardError.contains("RIP="), "\(output.standardError)")
            #expect(output.standardError.contains("Code (RIP"), "\(output.standardError)")
        }

        @Test func timeoutStopsASpinningGuestAndSaysWhere() throws {
            let scratch = try BootScratch()
            let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: [0xEB, 0xFE]))  // jmp $
            let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--timeout", "1"])
            #expect(output.status == 124, "\(output.standardError)")
            #expect(output.standardError.contains("timeout"), "\(output.standardError)")
            #expect(output.standardError.contains("vCPU 0: RIP 0x1000200"), "\(output.standardError)")
        }
    }
}
