import Foundation
import LinuxLoader
import Testing

/// `boot` on the minimal test kernel with ACPI on: `boot`'s tables are hardware-reduced (no 8259s for
/// Linux, no ISA IRQ mapped by itself), so the console works only if Linux finds COM1 in the DSDT
/// (`PNP0501` with IRQ 4 in its `_CRS`, through 8250_pnp) and routes IRQ 4 through the IOAPIC. Before
/// the test kernel could load a DSDT, this needed `acpi=off`. The command runs through the test
/// initramfs's /init protocol (Scripts/test-kernel/README.md): `/microvm/run` in an archive appended
/// to the initrd; its output arrives between markers on ttyS0, which `boot` writes to stdout.
extension ExampleTests {
    @Suite struct BootMinimalKernel {
        @Test func consoleInterruptComesFromTheDSDT() throws {
            let (kernel, initramfs) = try TestKernel.paths.get()
            let scratch = try MicrovmScratch()
            var archive = InitramfsArchive()
            try archive.addDirectory("microvm")
            let script = "exec /bin/busybox sh -c '/bin/busybox grep ttyS0 /proc/interrupts; /bin/busybox ls /sys/bus/pnp/devices; echo BOOT-ACPI-OK'\n"
            try archive.addFile("microvm/run", contents: Array(script.utf8), mode: 0o755)
            try archive.addFile("microvm/nonce", contents: Array("b007\n".utf8))
            var initrd = try Data(contentsOf: URL(fileURLWithPath: initramfs))
            initrd.append(contentsOf: archive.bytes)
            try initrd.write(to: URL(fileURLWithPath: scratch.file("initrd.cpio")))

            let started = Date()
            let output = try ExampleRunner.run(
                "boot", arguments: ["--kernel", kernel, "--initrd", scratch.file("initrd.cpio"), "--memory", "128",
                                    "--cmdline", "console=ttyS0 reboot=k panic=-1 quiet"], timeout: 240)
            print("boot on the minimal kernel, ACPI on: \(Int(Date().timeIntervalSince(started))) s, status \(output.status)")
            let report = "stdout:\n\(output.standardOutput.suffix(3000))\nstderr:\n\(output.standardError.suffix(3000))"
            let lines = output.standardOutput.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            #expect(output.status == 0, "reset through the i8042 after the command; \(report)")
            #expect(lines.contains("BOOT-ACPI-OK"), "\(report)")
            // "24:  131  IO-APIC  4-edge  ttyS0": a Linux IRQ mapped to IOAPIC pin 4 for the DSDT's COM1.
            #expect(lines.contains { $0.hasSuffix("IO-APIC   4-edge      ttyS0") }, "\(report)")
            #expect(lines.contains("00:00"), "COM1 enumerated as a PNP device from the DSDT; \(report)")
        }
    }
}
