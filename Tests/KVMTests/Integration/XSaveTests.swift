import KVM
import Testing

extension IntegrationTests {
    /// `VCPU.xsave()` / `setXSave` (KVM_GET_XSAVE(2) / KVM_SET_XSAVE) round-trip MXCSR, which some
    /// hosts' KVM_GET_FPU does not carry.
    @Suite struct XSave {
        @Test func mxcsrRoundTrip() throws {
            let machine = try TestMachine()
            try #require(try TestMachine.system().checkExtension(.xsave) > 0, "KVM_CAP_XSAVE")
            var area = try machine.vcpu.xsave()
            #expect(area.mxcsr == 0x1F80, "the architectural reset value: all exceptions masked")

            area.mxcsr = 0x7F80  // flush-to-zero and round-toward-zero, exceptions still masked
            try machine.vcpu.setXSave(area)
            #expect(try machine.vcpu.xsave().mxcsr == 0x7F80)

            area.mxcsr = 0x1F80
            try machine.vcpu.setXSave(area)
            #expect(try machine.vcpu.xsave().mxcsr == 0x1F80)
        }
    }
}
