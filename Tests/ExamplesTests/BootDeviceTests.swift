import Glibc
import KernelImageFixtures
import Testing

extension ExampleTests {
    /// `boot`'s devices on the I/O bus, driven by hand-assembled 64-bit "kernels" entered as Linux is.
    @Suite struct BootDevices {
        /// `outl` of `value` to the isa-debug-exit port: `boot` exits with (value << 1) | 1.
        @Test func debugExitPortEndsTheRunWithTheGuestsStatus() throws {
            let scratch = try BootScratch()
            let code: [UInt8] = [
                0x66, 0xBA, 0xF4, 0x00,        // mov dx, 0xf4
                0xB8, 0x10, 0x00, 0x00, 0x00,  // mov eax, 0x10
                0xEF,                          // out dx, eax
                0xF4, 0xEB, 0xFD,              // hlt; jmp hlt
            ]
            let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: code))
            let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--timeout", "30"])
            #expect(output.status == 0x21, "\(output.standardError)")
            #expect(output.standardError.contains("exit with status 33 (isa-debug-exit port)"), "\(output.standardError)")
        }

        /// The FADT's reset register (port 0x602, value 1: ACPIPowerControl) resets the machine.
        @Test func acpiResetRegisterResets() throws {
            let scratch = try BootScratch()
            let code: [UInt8] = [
                0x66, 0xBA, 0x02, 0x06,  // mov dx, 0x602
                0xB0, 0x01,              // mov al, 1
                0xEE,                    // out dx, al
                0xF4, 0xEB, 0xFD,        // hlt; jmp hlt
            ]
            let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: code))
            let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--timeout", "30"])
            #expect(output.status == 0, "\(output.standardError)")
            #expect(output.standardError.contains("the guest reset the machine (ACPI)"), "\(output.standardError)")
        }

        /// The CMOS RTC answers with the host's date: the guest reads the century and year registers
        /// (BCD) and prints them on COM1, then resets through the i8042.
        @Test func cmosClockGivesTheHostsYear() throws {
            let scratch = try BootScratch()
            let code: [UInt8] = [
                0xB0, 0x32, 0xE6, 0x70, 0xE4, 0x71,  // mov al, 0x32; out 0x70, al; in al, 0x71  (century)
                0xE8, 0x12, 0x00, 0x00, 0x00,        // call print_bcd (11 + 18 = 29)
                0xB0, 0x09, 0xE6, 0x70, 0xE4, 0x71,  // mov al, 0x09; out 0x70, al; in al, 0x71  (year)
                0xE8, 0x07, 0x00, 0x00, 0x00,        // call print_bcd (22 + 7 = 29)
                0xB0, 0xFE, 0xE6, 0x64,              // mov al, 0xfe; out 0x64, al  (reset)
                0xF4, 0xEB, 0xFD,                    // 26: hlt; jmp hlt
                // 29: print_bcd: al = two BCD digits → COM1
                0x88, 0xC3,                          // mov bl, al
                0xC0, 0xE8, 0x04,                    // shr al, 4
                0x04, 0x30,                          // add al, '0'
                0x66, 0xBA, 0xF8, 0x03,              // mov dx, 0x3f8
                0xEE,                                // out dx, al
                0x88, 0xD8,                          // mov al, bl
                0x24, 0x0F,                          // and al, 0x0f
                0x04, 0x30,                          // add al, '0'
                0xEE,                                // out dx, al
                0xC3,                                // ret
            ]
            func utcYear() -> String {
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                var broken = tm()
                var seconds = now.tv_sec
                gmtime_r(&seconds, &broken)
                return "\(broken.tm_year + 1900)"
            }
            let kernel = try scratch.file("bzImage", FakeKernel.bzImage(code64: code))
            let before = utcYear()
            let output = try ExampleRunner.run("boot", arguments: ["--kernel", kernel, "--memory", "64", "--timeout", "30"])
            let after = utcYear()
            #expect(output.status == 0, "\(output.standardError)")
            #expect(output.standardOutput == before || output.standardOutput == after, "\(output.standardError)")
        }
    }
}
