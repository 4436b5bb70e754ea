// Synthetic kernel images, shared by the loader's unit tests and boot's subprocess tests: bzImages
// whose protected-mode code is a tiny 64-bit program, PVH vmlinux files, a kernel ELF as a bzImage's
// payload carries it. Scripts/fake-kernel.py writes the same images for the benchmarks.

/// Synthetic kernel images.
public enum FakeKernel {
    /// Where a relocatable bzImage with `preferredAddress` 16 MiB is loaded, and its 64-bit entry.
    public static let loadAddress: UInt64 = 0x100_0000
    public static let entry64: UInt64 = loadAddress + 0x200

    /// A bzImage: boot sector and 4 setup sectors with a setup header, then the protected-mode kernel,
    /// whose 64-bit entry (offset 0x200) is `code64`, followed by `payload` (recorded in the header's
    /// payload_offset and payload_length when not empty).
    public static func bzImage(
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

    public static let pvhLoadAddress: UInt64 = 0x10_0000

    /// An ELF64 vmlinux: one PT_LOAD of `code32` at 1 MiB and a PT_NOTE with XEN_ELFNOTE_PHYS32_ENTRY.
    public static func pvhELF(code32: [UInt8], withNote: Bool = true) -> [UInt8] {
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
    public static func printAndReset64(_ message: String) -> [UInt8] {
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
    public static func printAndPowerOff32(_ message: String) -> [UInt8] {
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
    public static func printTail64(_ message: String) -> [UInt8] {
        [0x48, 0x8D, 0x35, 0x13, 0x00, 0x00, 0x00,  // T+0: lea rsi, [rip + 19] (message, T+26)
         0x66, 0xBA, 0xF8, 0x03,  // T+7: mov dx, 0x3f8
         0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8,  // T+11: lodsb; test; jz T+19; out; jmp T+11
         0xB0, 0xFE, 0xE6, 0x64,  // T+19: i8042 reset
         0xF4, 0xEB, 0xFD]  // T+23: hlt; jmp T+23
            + Array(message.utf8) + [0]  // T+26
    }

    /// 64-bit: ldmxcsr then stmxcsr through SIB + disp8 memory operands; prints `message` if the value
    /// came back, else executes ud2 (a triple fault: no IDT).
    public static func mxcsrRoundTrip64(_ message: String) -> [UInt8] {
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
    public static func startSecondaryCPU64(_ message: String) -> [UInt8] {
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
    public static func breakpoint64(ok: String, bad: String) -> [UInt8] {
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


extension FakeKernel {
    /// Where the kernel ELF's segment goes (LOAD_PHYSICAL_ADDR) and its virtual address.
    public static let kernelPhysical: UInt64 = 0x100_0000
    public static let kernelVirtual: UInt64 = 0xFFFF_FFFF_8100_0000

    /// A kernel's stripped vmlinux as the decompressor finds it: ELF64, one PT_LOAD of `code64` at
    /// physical 16 MiB (virtual 0xffffffff81000000) with 2 MiB of bss, e_entry = the physical
    /// startup_64 (x86-64 kernels are linked with ENTRY(phys_startup_64)); no PVH note.
    public static func kernelELF(code64: [UInt8]) -> [UInt8] {
        var image = [UInt8](repeating: 0, count: 0x1000)
        func put<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
            for index in 0..<MemoryLayout<T>.size { image[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
        }
        image.replaceSubrange(0..<4, with: [0x7F, 0x45, 0x4C, 0x46])
        put(UInt8(2), 4)
        put(UInt8(1), 5)
        put(UInt8(1), 6)
        put(UInt16(2), 16)  // ET_EXEC
        put(UInt16(62), 18)  // x86-64
        put(UInt32(1), 20)
        put(kernelPhysical, 24)  // e_entry
        put(UInt64(64), 32)  // e_phoff
        put(UInt16(64), 52)
        put(UInt16(56), 54)
        put(UInt16(1), 56)
        put(UInt32(1), 64)  // PT_LOAD
        put(UInt32(5), 68)
        put(UInt64(0x1000), 72)
        put(kernelVirtual, 80)
        put(kernelPhysical, 88)
        put(UInt64(code64.count), 96)
        put(UInt64(0x20_0000), 104)
        return image + code64
    }

    /// A bzImage whose protected-mode code prints `guestMessage` (standing in for the kernel's
    /// decompressor) and whose LZ4 payload is a kernel ELF printing `kernelMessage`; both check RSI.
    public static func lz4BzImage(guestMessage: String, kernelMessage: String, payload: [UInt8]? = nil) -> [UInt8] {
        bzImage(
            code64: printAndReset64(guestMessage),
            payload: payload ?? LZ4Fixture.stream(kernelELF(code64: printAndReset64(kernelMessage)), blockSize: 3000))
    }
}

