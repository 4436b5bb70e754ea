import KVM
import X86Setup
import Testing

extension IntegrationTests {
    /// `VCPU.translate` (KVM_TRANSLATE) walks the page tables the VMM wrote for a long-mode vCPU.
    @Suite struct Translate {
        @Test func mappedAndUnmappedAddresses() throws {
            let machine = try TestMachine()
            _ = try machine.enterLongMode(rip: 0x8000, rsp: 0x7000)

            // LongModeSetup identity-maps the first GiB with 2 MiB pages. (x86 KVM reports `writeable`
            // and `usermode` as constants, so only the address is checked.)
            let code = try #require(try machine.vcpu.translate(0x8123), "0x8123 is identity-mapped")
            #expect(code.physicalAddress == 0x8123)
            let high = try #require(try machine.vcpu.translate(0x3FFF_FFF8), "the last mapped quadword")
            #expect(high.physicalAddress == 0x3FFF_FFF8)

            // Beyond the first GiB the PDPT has no entries; above 2^47 the address is not canonical.
            #expect(try machine.vcpu.translate(0x4000_0000) == nil)
            #expect(try machine.vcpu.translate(0x7F00_0000_0000) == nil)
        }

        @Test func realModeIsTheIdentity() throws {
            let machine = try TestMachine()
            try machine.enterRealMode(rip: 0x1000)
            let translation = try #require(try machine.vcpu.translate(0x1234))
            #expect(translation.physicalAddress == 0x1234)
        }
    }
}
