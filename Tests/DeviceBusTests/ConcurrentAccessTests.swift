import DeviceBus
import Dispatch
import Synchronization
import Testing

/// A counter device: each write adds its value; reads return the sum.
final class CountingDevice: BusDevice {
    let sum = Atomic<UInt64>(0)
    func read(at offset: UInt64, size: Int) -> UInt64 { sum.load(ordering: .relaxed) }
    func write(at offset: UInt64, size: Int, value: UInt64) -> MachineRequest? {
        sum.add(value, ordering: .relaxed)
        return nil
    }
}

struct ConcurrentAccessTests {
    /// Four threads (as four vCPUs would) hammer one shared bus value: every write lands exactly once
    /// on the right device, and unclaimed accesses stay unclaimed.
    @Test func severalThreadsShareOneBus() throws {
        var bus = Bus.mmio()
        let devices = (0..<8).map { _ in CountingDevice() }
        for (index, device) in devices.enumerated() { try bus.register(device, base: UInt64(index) * 0x1000, size: 0x100) }
        let shared = bus
        let unclaimed = Atomic<Int>(0)
        let iterations = 20_000
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for index in 0..<iterations {
                let device = (index + thread) % 8
                _ = shared.write(at: UInt64(device) * 0x1000 + UInt64(index % 0x100), size: 1, value: 1)
                if case .unclaimed = shared.read(at: UInt64(device) * 0x1000 + 0x100, size: 1) {
                    unclaimed.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(devices.map { $0.sum.load(ordering: .relaxed) }.reduce(0, +) == UInt64(4 * iterations))
        for device in devices { #expect(device.sum.load(ordering: .relaxed) == UInt64(4 * iterations / 8)) }
        #expect(unclaimed.load(ordering: .relaxed) == 4 * iterations)
    }
}
