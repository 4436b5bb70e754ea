import DeviceBus
import Glibc
import KVM
import Synchronization
import Testing
import VirtioMMIO
import VirtioQueue

/// Counts the interrupts a transport raises.
final class InterruptCounter: Sendable {
    let count = Atomic<Int>(0)
    var trigger: VirtioInterruptTrigger { VirtioInterruptTrigger { [self] in count.add(1, ordering: .relaxed) } }
    var value: Int { count.load(ordering: .relaxed) }
}

/// Collects the errors a transport reports.
final class ErrorLog: Sendable {
    let errors = Mutex<[VirtioDeviceError]>([])
    var handler: @Sendable (VirtioDeviceError) -> Void { { [self] error in errors.withLock { $0.append(error) } } }
    var all: [VirtioDeviceError] { errors.withLock { $0 } }
}

/// A model of Linux's virtio_mmio driver: it programs a transport through its registers (as the guest's
/// MMIO accesses would reach it through the bus) and drives each queue with a ``VirtioDriverModel``.
struct MMIODriver {
    typealias R = VirtioMMIORegister
    let transport: VirtioMMIOTransport
    let memory: GuestMemory
    let interrupts = InterruptCounter()
    let errors = ErrorLog()

    /// A transport for `device` over `memory`, or over fresh guest memory.
    init(device: any VirtioDevice, memory: GuestMemory? = nil) throws {
        if let memory {
            self.memory = memory
        } else {
            let mapping = try MemoryMapping(byteCount: VirtioDriverModel.memorySize)
            let region = try GuestMemoryRegion(slot: 0, guestBase: GuestAddress(VirtioDriverModel.ramBase), mapping: mapping)
            self.memory = try GuestMemory(regions: [region])
        }
        transport = try VirtioMMIOTransport(device: device, memory: self.memory, interrupt: interrupts.trigger, onError: errors.handler)
    }

    func read(_ register: UInt64) -> UInt32 { UInt32(transport.read(at: register, size: 4)) }
    func write(_ register: UInt64, _ value: UInt32) { _ = transport.write(at: register, size: 4, value: UInt64(value)) }

    var status: VirtioDeviceStatus { VirtioDeviceStatus(rawValue: read(R.status)) }

    /// The features the device offers.
    func deviceFeatures() -> VirtioFeatures {
        write(R.deviceFeaturesSelect, 0)
        let low = read(R.deviceFeatures)
        write(R.deviceFeaturesSelect, 1)
        let high = read(R.deviceFeatures)
        return VirtioFeatures(rawValue: UInt64(high) << 32 | UInt64(low))
    }

    /// ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns whether the device accepted the features.
    @discardableResult
    func negotiate(_ features: VirtioFeatures? = nil) -> Bool {
        write(R.status, 0)
        write(R.status, 1)
        write(R.status, 3)
        let accepted = features ?? deviceFeatures()
        for select: UInt32 in [0, 1] {
            write(R.driverFeaturesSelect, select)
            write(R.driverFeatures, accepted.word(select))
        }
        write(R.status, 11)
        return status.contains(.featuresOK)
    }

    /// Programs queue `index` from `model` and enables it.
    func setUpQueue(_ index: Int, _ model: VirtioDriverModel) {
        write(R.queueSelect, UInt32(index))
        write(R.queueSize, UInt32(model.size))
        for (low, high, address) in [
            (R.queueDescriptorLow, R.queueDescriptorHigh, model.descriptorTable),
            (R.queueDriverLow, R.queueDriverHigh, model.driverArea), (R.queueDeviceLow, R.queueDeviceHigh, model.deviceArea),
        ] {
            write(low, UInt32(truncatingIfNeeded: address.rawValue))
            write(high, UInt32(truncatingIfNeeded: address.rawValue >> 32))
        }
        write(R.queueReady, 1)
    }

    func driverOK() { write(R.status, 15) }

    /// Writes the queue's index to QueueNotify (the MMIO fallback path, as without an ioeventfd).
    func notify(_ index: Int) { write(R.queueNotify, UInt32(index)) }

    /// A set-up driver: features negotiated, queues 0..<n enabled from new models, DRIVER_OK.
    static func ready(_ device: any VirtioDevice, queues: Int, size: UInt16 = 16, features: VirtioFeatures? = nil) throws
        -> (MMIODriver, [VirtioDriverModel])
    {
        let driver = try MMIODriver(device: device)
        #expect(driver.negotiate(features))
        var models: [VirtioDriverModel] = []
        for index in 0 ..< queues {
            let model = try VirtioDriverModel(size: size, memory: driver.memory, slot: index)
            driver.setUpQueue(index, model)
            models.append(model)
        }
        driver.driverOK()
        #expect(driver.status.contains(.driverOK))
        return (driver, models)
    }
}

/// Waits (up to 10 s; the device works on its own thread) until `condition` holds; returns whether it did.
func eventually(_ condition: () throws -> Bool) rethrows -> Bool {
    for _ in 0 ..< 10_000 {
        if try condition() { return true }
        usleep(1000)
    }
    return try condition()
}

/// Waits for `count` used entries on `model`'s queue and returns them.
func waitForUsed(_ model: inout VirtioDriverModel, count: Int) throws -> [(head: UInt16, length: UInt32)] {
    var entries: [(head: UInt16, length: UInt32)] = []
    _ = try eventually {
        entries += try model.takeUsed()
        return entries.count >= count
    }
    return entries
}
