import Foundation
import KernelImageFixtures
import Testing

// `boot`, the Linux VMM, without a Linux kernel: synthetic bzImage and PVH vmlinux images built here.
// `BootStructures` checks what the VMM writes for a kernel (`--dry-run`: no vCPU runs and no /dev/kvm is
// needed): the zero page and its e820 map, start_info, the command line and initrd placement, the ACPI
// tables and their checksums, and the loader's refusals. `ExampleTests.Boot` runs tiny hand-assembled
// "kernels" entered exactly as Linux is, which print to the UART and power off or reset.

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
