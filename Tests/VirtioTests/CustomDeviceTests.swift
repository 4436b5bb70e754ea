import KVM
import Testing
import VirtioMMIO
import VirtioQueue

/// The custom device from VirtioMMIO's DocC landing page, verbatim: written against the public API only.
final class ReversingDevice: VirtioDevice {
    var deviceType: VirtioDeviceType { VirtioDeviceType(rawValue: 0x1234) }
    var offeredFeatures: VirtioFeatures { [] }
    var queueMaximumSizes: [UInt16] { [128] }
    var configurationSize: Int { 0 }
    func readConfiguration(at offset: Int, count: Int) -> [UInt8] { [UInt8](repeating: 0, count: count) }
    func activate(_ context: VirtioDeviceContext) throws(VirtioDeviceError) {}
    func reset() {}

    func queueNotified(_ index: Int, context: VirtioDeviceContext) {
        context.processQueue(index) { (chain) throws(VirtioDeviceError) -> UInt32 in
            var reader = chain.reader(in: context.memory)
            var writer = chain.writer(in: context.memory)
            do {
                let request = try reader.read(upTo: reader.remaining)
                return UInt32(try writer.write(request.reversed()))
            } catch {
                throw .malformedRequest("\(error)")
            }
        }
    }
}

@Suite("A device of one's own")
struct CustomDeviceTests {
    @Test("The documented custom device works through the transport, with indirect chains")
    func reversingDevice() throws {
        var (driver, models) = try MMIODriver.ready(ReversingDevice(), queues: 1)
        #expect(driver.read(VirtioMMIORegister.deviceID) == 0x1234)
        let request = try models[0].allocate(5, filledWith: Array("virtq".utf8))
        let reply = try models[0].allocate(5)
        try models[0].postIndirect([.init(address: request, length: 5, writable: false), .init(address: reply, length: 5, writable: true)])
        driver.notify(0)
        #expect(try waitForUsed(&models[0], count: 1).first?.length == 5)
        #expect(try driver.memory.readBytes(at: GuestAddress(reply), count: 5) == Array("qtriv".utf8))
    }
}
