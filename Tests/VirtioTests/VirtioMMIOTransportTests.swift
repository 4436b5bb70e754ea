import DeviceBus
import Glibc
import KVM
import KVMBindings
import Testing
import VirtioDevices
import VirtioMMIO
import VirtioQueue
import TestSupport

@Suite("virtio-mmio transport")
struct VirtioMMIOTransportTests {
    typealias R = VirtioMMIORegister

    @Test("Identification registers, feature windows and queue limits read as virtio-mmio v2 requires")
    func identification() throws {
        let driver = try MMIODriver(device: VirtioEntropyDevice())
        #expect(driver.read(R.magicValue) == 0x7472_6976)
        #expect(driver.read(R.version) == 2)
        #expect(driver.read(R.deviceID) == 4)
        #expect(driver.read(R.vendorID) == 0)
        let features = driver.deviceFeatures()
        #expect(features.isSuperset(of: [.version1, .indirectDescriptors, .eventIndex]))
        #expect(!features.contains(.ringPacked))
        driver.write(R.queueSelect, 0)
        #expect(driver.read(R.queueSizeMaximum) == 256)
        driver.write(R.queueSelect, 1)  // no such queue
        #expect(driver.read(R.queueSizeMaximum) == 0)
        #expect(driver.read(R.sharedMemoryLengthLow) == 0xFFFF_FFFF)
        // Registers are 32-bit: other widths read 0 and writes are dropped.
        #expect(driver.transport.read(at: R.magicValue, size: 2) == 0)
        #expect(driver.read(R.configurationGeneration) == 0)
    }

    @Test("The transport sits on a DeviceBus and reports its command-line fragment")
    func busAndPlacement() throws {
        let driver = try MMIODriver(device: VirtioEntropyDevice())
        let placement = VirtioMMIOPlacement(base: 0xD000_0000, gsi: 5)
        var bus = Bus.mmio()
        try bus.register(driver.transport, base: placement.base, size: placement.size)
        #expect(bus.read(at: 0xD000_0000, size: 4) == .claimed(0x7472_6976))
        #expect(placement.kernelCommandLineFragment == "virtio_mmio.device=4K@0xd0000000:5")
        let placements = VirtioMMIOPlacement.consecutive(count: 2, base: 0xD000_0000, firstGSI: 5)
        #expect(placements.map(\.kernelCommandLineFragment) == [
            "virtio_mmio.device=4K@0xd0000000:5", "virtio_mmio.device=4K@0xd0001000:6",
        ])
        let skipping = VirtioMMIOPlacement.consecutive(count: 3, base: 0xD000_0000, gsis: [7, 10, 11, 13])
        #expect(skipping?.map(\.kernelCommandLineFragment) == [
            "virtio_mmio.device=4K@0xd0000000:7", "virtio_mmio.device=4K@0xd0001000:10", "virtio_mmio.device=4K@0xd0002000:11",
        ])
        #expect(VirtioMMIOPlacement.consecutive(count: 3, base: 0xD000_0000, gsis: [5, 6]) == nil, "more devices than lines")
    }

    @Test("FEATURES_OK is refused without VERSION_1 or with features the device did not offer")
    func featureNegotiation() throws {
        let driver = try MMIODriver(device: VirtioEntropyDevice())
        #expect(driver.negotiate([]) == false)
        #expect(driver.negotiate([.version1, VirtioFeatures(bit: 40)]) == false)
        #expect(driver.negotiate([.version1]) == true)
        // DRIVER_OK without FEATURES_OK is not accepted either.
        driver.write(R.status, 0)
        driver.write(R.status, 7)
        #expect(!driver.status.contains(.driverOK))
    }

    @Test("A queue size that is not a power of two makes the device need a reset; a reset recovers it")
    func badQueueSizeNeedsReset() throws {
        let driver = try MMIODriver(device: VirtioEntropyDevice())
        #expect(driver.negotiate())
        var model = try VirtioDriverModel(size: 12, memory: driver.memory)
        driver.setUpQueue(0, model)
        #expect(driver.read(R.queueReady) == 0)
        #expect(driver.status.contains(.deviceNeedsReset))
        #expect(driver.read(R.interruptStatus) & 2 == 2)
        #expect(driver.interrupts.value == 1)
        #expect(driver.errors.all == [.queue(index: 0, .invalidQueueSize(12, maximum: 256))])

        driver.write(R.status, 0)
        #expect(driver.status.rawValue == 0)
        #expect(driver.read(R.interruptStatus) == 0)
        #expect(driver.negotiate())
        model = try VirtioDriverModel(size: 16, memory: driver.memory)
        driver.setUpQueue(0, model)
        driver.driverOK()
        let buffer = try model.allocate(32)
        try model.post([.init(address: buffer, length: 32, writable: true)])
        driver.notify(0)
        let used = try waitForUsed(&model, count: 1)
        #expect(used.first?.length == 32)
    }

    @Test("Queue registers are fixed while the queue is ready")
    func queueRegistersLocked() throws {
        let (driver, models) = try MMIODriver.ready(VirtioEntropyDevice(), queues: 1)
        driver.write(R.queueSelect, 0)
        driver.write(R.queueSize, 4)
        #expect(driver.read(R.queueSize) == UInt32(models[0].size))
        #expect(driver.read(R.queueDescriptorLow) == UInt32(truncatingIfNeeded: models[0].descriptorTable.rawValue))
    }

    @Test("A hostile chain sets DEVICE_NEEDS_RESET, raises a config interrupt and stops the device; the VMM goes on")
    func hostileChainNeedsReset() throws {
        var (driver, models) = try MMIODriver.ready(VirtioEntropyDevice(), queues: 1)
        try models[0].writeDescriptor(.init(address: models[0].ramBase + 0x30_0000, length: 8, flags: [.next, .write], next: 1), index: 0)
        try models[0].writeDescriptor(.init(address: models[0].ramBase + 0x30_0000, length: 8, flags: [.next, .write], next: 0), index: 1)
        try models[0].publish(head: 0)
        driver.notify(0)
        #expect(eventually { driver.status.contains(.deviceNeedsReset) })
        #expect(driver.read(R.interruptStatus) & 2 == 2)
        #expect(driver.errors.all == [.queue(index: 0, .chainTooLong(limit: 16))])
        // Later requests are not served until the driver resets the device.
        let buffer = try models[0].allocate(8)
        try models[0].post([.init(address: buffer, length: 8, writable: true)])
        driver.notify(0)
        usleep(50_000)
        #expect(try models[0].takeUsed().isEmpty)
        driver.write(R.status, 0)
        #expect(!driver.status.contains(.deviceNeedsReset))
    }

    @Test("Used buffers raise InterruptStatus bit 0 and an interrupt; InterruptACK clears the bit")
    func interrupts() throws {
        var (driver, models) = try MMIODriver.ready(VirtioEntropyDevice(), queues: 1)
        let buffer = try models[0].allocate(16)
        try models[0].post([.init(address: buffer, length: 16, writable: true)])
        driver.notify(0)
        _ = try waitForUsed(&models[0], count: 1)
        #expect(eventually { driver.interrupts.value == 1 })
        #expect(driver.read(R.interruptStatus) == 1)
        driver.write(R.interruptAcknowledge, 1)
        #expect(driver.read(R.interruptStatus) == 0)
    }

    @Test("Chains posted before DRIVER_OK are served on activation")
    func postedBeforeDriverOK() throws {
        let driver = try MMIODriver(device: VirtioEntropyDevice())
        #expect(driver.negotiate())
        var model = try VirtioDriverModel(size: 16, memory: driver.memory)
        driver.setUpQueue(0, model)
        let buffer = try model.allocate(8)
        try model.post([.init(address: buffer, length: 8, writable: true)])
        driver.driverOK()
        #expect(try waitForUsed(&model, count: 1).count == 1)
    }

    @Test(
        "A real guest's QueueNotify write reaches the device through the ioeventfd, without an exit",
        .enabled(if: access("/dev/kvm", R_OK | W_OK) == 0, "/dev/kvm is absent or not accessible"))
    func guestNotifiesThroughIOEventFD() throws {
        let vm = try KVMSystem().createVM()
        // Code at 0x1000 in a 32 KiB slot; the virtio window at 0x8000 is not RAM, so accesses to it are MMIO.
        try vm.mapMemory(slot: 0, at: 0, size: 0x8000)
        try vm.mapMemory(slot: 1, at: GuestAddress(VirtioDriverModel.ramBase), size: VirtioDriverModel.memorySize)
        let base: UInt64 = 0x8000
        let driver = try MMIODriver(device: VirtioEntropyDevice(), memory: vm.memory)
        #expect(driver.negotiate())
        var model = try VirtioDriverModel(size: 16, memory: vm.memory)
        driver.setUpQueue(0, model)
        driver.driverOK()
        try driver.transport.registerIOEventFDs(on: vm, base: base)
        defer { try? driver.transport.unregisterIOEventFDs(on: vm, base: base) }
        let buffer = try model.allocate(32, filledWith: [UInt8](repeating: 0, count: 32))
        try model.post([.init(address: buffer, length: 32, writable: true)])

        // xor eax, eax; mov [0x8050], eax (QueueNotify = queue 0); hlt
        try vm.memory.write(bytes: [0x66, 0x31, 0xC0, 0x66, 0xA3, 0x50, 0x80, 0xF4], at: GuestAddress(0x1000))
        let vcpu = try vm.createVCPU(id: 0)
        var special = try vcpu.specialRegisters()
        special.cs.base = 0
        special.cs.selector = 0
        special.ds.base = 0
        special.ds.selector = 0
        try vcpu.setSpecialRegisters(special)
        var registers = KVMRegs()
        registers.rip = 0x1000
        registers.rflags = 0x2
        try vcpu.setRegisters(registers)
        let exit = try vcpu.run()
        guard case .halt = exit else {
            Issue.record("expected the guest to reach hlt without an MMIO exit, got \(exit)")
            return
        }
        let used = try waitForUsed(&model, count: 1)
        #expect(used.first?.length == 32)
        #expect(try vm.memory.readBytes(at: GuestAddress(buffer), count: 32).contains { $0 != 0 })
    }
}

@Suite("virtio-mmio configuration changes")
struct VirtioMMIOConfigurationChangeTests {
    @Test("A configuration change bumps ConfigGeneration and raises InterruptStatus bit 1")
    func configurationChange() throws {
        let driver = try MMIODriver(device: VirtioEntropyDevice())
        #expect(driver.read(VirtioMMIORegister.configurationGeneration) == 0)
        driver.transport.signalConfigurationChange()
        #expect(driver.read(VirtioMMIORegister.configurationGeneration) == 1)
        #expect(driver.read(VirtioMMIORegister.interruptStatus) == 2)
        #expect(driver.interrupts.value == 1)
        driver.write(VirtioMMIORegister.interruptAcknowledge, 2)
        #expect(driver.read(VirtioMMIORegister.interruptStatus) == 0)
    }
}

@Suite("virtio-mmio attach", .enabled(if: access("/dev/kvm", R_OK | W_OK) == 0, "/dev/kvm is absent or not accessible"))
struct VirtioMMIOAttachTests {
    @Test("attach registers the irqfd, the ioeventfds and the bus window; a clash is refused and undone")
    func attach() throws {
        let vm = try KVMSystem().createVM()
        try vm.createIRQChip()
        try vm.mapMemory(slot: 0, at: GuestAddress(VirtioDriverModel.ramBase), size: VirtioDriverModel.memorySize)
        var bus = Bus.mmio()
        let placements = VirtioMMIOPlacement.consecutive(count: 2, base: 0xD000_0000, firstGSI: 5)
        let first = try VirtioMMIOTransport.attach(VirtioEntropyDevice(), at: placements[0], to: vm, bus: &bus)
        #expect(bus.read(at: 0xD000_0000 + VirtioMMIORegister.deviceID, size: 4) == .claimed(4))
        // The same window again: KVM refuses the duplicate ioeventfds, and nothing is left registered.
        #expect(throws: VirtioAttachError.self) {
            _ = try VirtioMMIOTransport.attach(VirtioEntropyDevice(), at: VirtioMMIOPlacement(base: 0xD000_0000, gsi: 6), to: vm, bus: &bus)
        }
        let second = try VirtioMMIOTransport.attach(VirtioEntropyDevice(), at: placements[1], to: vm, bus: &bus)
        #expect(bus.registrations.count == 2)
        first.shutdown()
        second.shutdown()
    }
}

@Suite("virtio-mmio against random register traffic")
struct VirtioMMIORandomAccessTests {
    @Test("Random reads and writes of any size anywhere in the window never crash the VMM; a reset recovers the device",
          arguments: 1 ... 4 as ClosedRange<UInt64>)
    func randomAccesses(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let image = TemporaryImage(bytes: 64 * 1024)
        let device = VirtioBlockDevice(configuration: .init(attachment: try DiskImageAttachment(path: image.path)))
        let driver = try MMIODriver(device: device)
        // Bias towards the registers that matter (status, queue setup, notify) and plausible values.
        let hot: [UInt64] = [0x14, 0x20, 0x24, 0x30, 0x38, 0x44, 0x50, 0x64, 0x70, 0x80, 0x84, 0x90, 0x94, 0xA0, 0xA4]
        for _ in 0 ..< 20_000 {
            let offset = Bool.random(using: &random) ? hot.randomElement(using: &random)! : UInt64.random(in: 0 ..< 0x1000, using: &random)
            let size = [1, 2, 4, 8].randomElement(using: &random)!
            guard offset + UInt64(size) <= 0x1000 else { continue }
            if Bool.random(using: &random) {
                _ = driver.transport.read(at: offset, size: size)
            } else {
                let value: UInt64 = switch UInt8.random(in: 0 ..< 4, using: &random) {
                case 0: UInt64.random(in: 0 ..< 16, using: &random)
                case 1: VirtioDriverModel.ramBase + UInt64.random(in: 0 ..< 0x40_0000, using: &random)
                case 2: 1 << UInt64.random(in: 0 ..< 64, using: &random)
                default: UInt64.random(in: 0 ... .max, using: &random)
                }
                _ = driver.transport.write(at: offset, size: size, value: value)
            }
        }
        // Whatever state the traffic left, a reset and a proper setup give a working disk.
        driver.write(VirtioMMIORegister.status, 0)
        #expect(driver.status.rawValue == 0)
        #expect(driver.negotiate())
        var model = try VirtioDriverModel(size: 16, memory: driver.memory, slot: 2)
        driver.setUpQueue(0, model)
        driver.driverOK()
        let header = try model.allocate(16, filledWith: VirtioBlockDeviceTests.header(0))
        let data = try model.allocate(512)
        let status = try model.allocate(1, filledWith: [0xFF])
        try model.post([
            .init(address: header, length: 16, writable: false), .init(address: data, length: 512, writable: true),
            .init(address: status, length: 1, writable: true),
        ])
        driver.notify(0)
        #expect(try waitForUsed(&model, count: 1).first?.length == 513)
        #expect(try driver.memory.load(UInt8.self, at: GuestAddress(status)) == 0)
        #expect(try driver.memory.readBytes(at: GuestAddress(data), count: 512) == Array(image.contents[0 ..< 512]))
    }
}
