import DeviceBus
import KVM
import Synchronization
import VirtioQueue
import SystemPackage

/// A virtio device presented through the virtio-mmio transport, version 2 (virtio 1.2 §4.2): the
/// register file the guest's `virtio_mmio` driver programs, as a `BusDevice`.
///
/// The transport negotiates features (the driver must accept `VirtioFeatures/version1`), checks each
/// queue the driver enables (`SplitVirtqueue`), activates the device on `DRIVER_OK`, resets it when the
/// driver writes 0 to `Status`, and runs a worker thread that calls the device for queue notifications
/// and backend events, so no device work happens on a vCPU thread.
///
/// ## Notifications and interrupts
///
/// Each queue has an eventfd (``queueNotifyEventFDs``). Register them as ioeventfds
/// (``registerIOEventFDs(on:base:)``) and KVM signals them directly when the guest writes the queue's
/// index to `QueueNotify`: the vCPU does not exit. Without that registration, the MMIO write reaches
/// ``write(at:size:value:)``, which signals the same eventfd. Interrupts go through a
/// ``VirtioInterruptTrigger`` (an irqfd, normally).
///
/// ## A misbehaving driver
///
/// A queue configuration that fails the checks, or a malformed chain, sets `DEVICE_NEEDS_RESET`, raises a
/// configuration-change interrupt, reports the error to `onError`, and stops the device until the driver
/// resets it. The VMM goes on.
public final class VirtioMMIOTransport: BusDevice {
    /// The size of a virtio-mmio window (registers and configuration space).
    public static let windowSize: UInt64 = 0x1000

    /// The device behind the transport.
    public var device: any VirtioDevice { core.device }
    /// The eventfd of each queue, signalled when the driver notifies it.
    public var queueNotifyEventFDs: [EventFD] { core.queueNotifyEventFDs }
    /// The vendor ID the device reports.
    public let vendorID: UInt32

    private let memory: GuestMemory
    private let offeredFeatures: VirtioFeatures
    private let queueMaximumSizes: [UInt16]
    private let registers: Mutex<Registers>
    /// What the worker thread uses; the thread holds it strongly, so it outlives the transport's deinit.
    private let core: VirtioWorkerCore
    private let thread: Mutex<HostThread<Void, Never>?>
    private var interrupt: VirtioInterruptState { core.interrupt }

    private struct QueueRegisters {
        var size: UInt16
        var ready = false
        var descriptorTable: UInt64 = 0
        var driverArea: UInt64 = 0
        var deviceArea: UInt64 = 0
        var queue: SplitVirtqueue?
    }

    private struct Registers {
        var status: UInt32 = 0
        var deviceFeaturesSelect: UInt32 = 0
        var driverFeaturesSelect: UInt32 = 0
        var driverFeatures = VirtioFeatures()
        var queueSelect: UInt32 = 0
        var queues: [QueueRegisters]
    }

    /// Presents `device` to a guest whose memory is `memory`.
    ///
    /// - Parameters:
    ///   - device: The device to present.
    ///   - memory: The guest's memory (the queues' rings and buffers must lie in it).
    ///   - interrupt: How to raise the device's interrupt (``VirtioInterruptTrigger/irqfd(_:onError:)``).
    ///   - vendorID: The `VendorID` register's value.
    ///   - onError: Called (from a vCPU or the worker thread) when the driver's misbehaviour made the
    ///     device need a reset, with the reason; for logging.
    /// - Throws: ``VirtioDeviceError/system(operation:errno:)`` if an eventfd, the epoll set or the worker
    ///   thread cannot be created.
    public init(
        device: any VirtioDevice, memory: GuestMemory, interrupt: VirtioInterruptTrigger, vendorID: UInt32 = 0,
        onError: @escaping @Sendable (VirtioDeviceError) -> Void = { _ in }
    ) throws(VirtioDeviceError) {
        self.memory = memory
        self.vendorID = vendorID
        self.queueMaximumSizes = device.queueMaximumSizes
        self.offeredFeatures = device.offeredFeatures
            .union([.version1, .indirectDescriptors, .eventIndex])
            .subtracting([.ringPacked, .accessPlatform])
        self.registers = Mutex(Registers(queues: device.queueMaximumSizes.map { QueueRegisters(size: $0) }))
        let core = try VirtioWorkerCore(device: device, interrupt: VirtioInterruptState(trigger: interrupt), onError: onError)
        self.core = core
        do {
            // Device work needs little stack: 256 KiB instead of the default 8 MiB of address space.
            self.thread = Mutex(try HostThread(name: "virtio-worker", stackSize: 256 * 1024) { core.run() })
        } catch {
            throw .system(operation: "pthread_create", errno: error.errno ?? .invalidArgument)  // nil: the stack size, which 256 KiB passes
        }
    }

    deinit {
        shutdown()
    }

    /// Stops the worker thread and waits for it (also done on deinit). The device is reset first.
    public func shutdown() {
        resetDevice()
        let running = thread.withLock { thread -> HostThread<Void, Never>? in
            let taken = thread.take()
            return taken
        }
        guard let running else { return }
        try? core.stopEvent.write(1)
        running.join()
    }

    /// Registers each queue's eventfd as an ioeventfd for 4-byte writes of the queue's index to
    /// `QueueNotify` in the window at `base` (`KVM_IOEVENTFD` with datamatch).
    /// On failure, the ones already registered are unregistered again.
    public func registerIOEventFDs(on vm: VirtualMachine, base: UInt64) throws(KVMRuntimeError) {
        let address = IOAddress.memory(GuestAddress(base + VirtioMMIORegister.queueNotify))
        for (index, eventfd) in queueNotifyEventFDs.enumerated() {
            do {
                try vm.registerIOEventFD(eventfd, at: address, length: 4, datamatch: UInt64(index))
            } catch {
                for (done, registered) in queueNotifyEventFDs.enumerated().prefix(index) {
                    try? vm.unregisterIOEventFD(registered, at: address, length: 4, datamatch: UInt64(done))
                }
                throw error
            }
        }
    }

    /// The inverse of ``registerIOEventFDs(on:base:)``.
    public func unregisterIOEventFDs(on vm: VirtualMachine, base: UInt64) throws(KVMRuntimeError) {
        for (index, eventfd) in queueNotifyEventFDs.enumerated() {
            try vm.unregisterIOEventFD(
                eventfd, at: .memory(GuestAddress(base + VirtioMMIORegister.queueNotify)), length: 4, datamatch: UInt64(index))
        }
    }

    /// The device status as the guest reads it.
    public var status: VirtioDeviceStatus {
        VirtioDeviceStatus(rawValue: registers.withLock { $0.status } | (core.needsResetFlag.load(ordering: .acquiring) ? 64 : 0))
    }

    /// The pending interrupt bits (`InterruptStatus`).
    public var interruptStatus: UInt32 { interrupt.status.load(ordering: .acquiring) }

    /// Tells the driver the device's configuration space changed (bumps `ConfigGeneration`).
    public func signalConfigurationChange() {
        interrupt.announceConfigurationChange()
    }

    // MARK: BusDevice

    public func read(at offset: UInt64, size: Int) -> UInt64 {
        if offset >= VirtioMMIORegister.configuration {
            let start = Int(offset - VirtioMMIORegister.configuration)
            guard start + size <= device.configurationSize else { return 0 }
            let bytes = device.readConfiguration(at: start, count: size)
            return bytes.prefix(size).enumerated().reduce(0) { $0 | (UInt64($1.element) << (8 * UInt64($1.offset))) }
        }
        guard size == 4, offset % 4 == 0 else { return 0 }
        return UInt64(readRegister(offset))
    }

    public func write(at offset: UInt64, size: Int, value: UInt64) -> MachineRequest? {
        if offset >= VirtioMMIORegister.configuration {
            let start = Int(offset - VirtioMMIORegister.configuration)
            guard start + size <= device.configurationSize else { return nil }
            device.writeConfiguration(at: start, bytes: (0 ..< size).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) })
            return nil
        }
        guard size == 4, offset % 4 == 0 else { return nil }
        writeRegister(offset, UInt32(truncatingIfNeeded: value))
        return nil
    }

    private func readRegister(_ offset: UInt64) -> UInt32 {
        typealias R = VirtioMMIORegister
        switch offset {
        case R.magicValue: return R.magic
        case R.version: return 2
        case R.deviceID: return device.deviceType.rawValue
        case R.vendorID: return vendorID
        case R.interruptStatus: return interrupt.status.load(ordering: .acquiring)
        case R.status: return status.rawValue
        case R.configurationGeneration: return interrupt.configurationGeneration.load(ordering: .acquiring)
        // No shared memory regions: a length of all-ones says the selected region does not exist.
        case R.sharedMemoryLengthLow, R.sharedMemoryLengthHigh, R.sharedMemoryBaseLow, R.sharedMemoryBaseHigh:
            return 0xFFFF_FFFF
        default: break
        }
        return registers.withLock { registers -> UInt32 in
            let selected = Int(registers.queueSelect)
            let queue = registers.queues.indices.contains(selected) ? registers.queues[selected] : nil
            switch offset {
            case R.deviceFeatures: return offeredFeatures.word(registers.deviceFeaturesSelect)
            case R.queueSizeMaximum: return queue.map { _ in UInt32(queueMaximumSizes[selected]) } ?? 0
            case R.queueSize: return UInt32(queue?.size ?? 0)
            case R.queueReady: return queue?.ready == true ? 1 : 0
            case R.queueDescriptorLow: return UInt32(truncatingIfNeeded: queue?.descriptorTable ?? 0)
            case R.queueDescriptorHigh: return UInt32(truncatingIfNeeded: (queue?.descriptorTable ?? 0) >> 32)
            case R.queueDriverLow: return UInt32(truncatingIfNeeded: queue?.driverArea ?? 0)
            case R.queueDriverHigh: return UInt32(truncatingIfNeeded: (queue?.driverArea ?? 0) >> 32)
            case R.queueDeviceLow: return UInt32(truncatingIfNeeded: queue?.deviceArea ?? 0)
            case R.queueDeviceHigh: return UInt32(truncatingIfNeeded: (queue?.deviceArea ?? 0) >> 32)
            default: return 0
            }
        }
    }

    private func writeRegister(_ offset: UInt64, _ value: UInt32) {
        typealias R = VirtioMMIORegister
        switch offset {
        case R.queueNotify:
            // The fallback path when no ioeventfd is registered: hand the notification to the worker.
            if Int(value) < queueNotifyEventFDs.count { try? queueNotifyEventFDs[Int(value)].write(1) }
            return
        case R.interruptAcknowledge:
            interrupt.acknowledge(value)
            return
        case R.status:
            writeStatus(value)
            return
        default: break
        }
        var failure: VirtioDeviceError?
        registers.withLock { registers in
            let selected = Int(registers.queueSelect)
            let hasQueue = registers.queues.indices.contains(selected)
            // Queue registers may change only while the queue is not ready (virtio 1.2 §4.2.2.3).
            let queueWritable = hasQueue && !registers.queues[selected].ready
            func setLow(_ field: inout UInt64) { field = (field & 0xFFFF_FFFF_0000_0000) | UInt64(value) }
            func setHigh(_ field: inout UInt64) { field = (field & 0xFFFF_FFFF) | (UInt64(value) << 32) }
            switch offset {
            case R.deviceFeaturesSelect: registers.deviceFeaturesSelect = value
            case R.driverFeaturesSelect: registers.driverFeaturesSelect = value
            case R.driverFeatures:
                // Features are fixed once FEATURES_OK is set.
                guard registers.status & VirtioDeviceStatus.featuresOK.rawValue == 0 else { return }
                registers.driverFeatures = registers.driverFeatures.replacingWord(registers.driverFeaturesSelect, with: value)
            case R.queueSelect: registers.queueSelect = value
            case R.queueSize where queueWritable: registers.queues[selected].size = UInt16(truncatingIfNeeded: value)
            case R.queueDescriptorLow where queueWritable: setLow(&registers.queues[selected].descriptorTable)
            case R.queueDescriptorHigh where queueWritable: setHigh(&registers.queues[selected].descriptorTable)
            case R.queueDriverLow where queueWritable: setLow(&registers.queues[selected].driverArea)
            case R.queueDriverHigh where queueWritable: setHigh(&registers.queues[selected].driverArea)
            case R.queueDeviceLow where queueWritable: setLow(&registers.queues[selected].deviceArea)
            case R.queueDeviceHigh where queueWritable: setHigh(&registers.queues[selected].deviceArea)
            case R.queueReady where hasQueue:
                if value & 1 == 0 {
                    registers.queues[selected].ready = false
                    registers.queues[selected].queue = nil
                    return
                }
                let queueRegisters = registers.queues[selected]
                do throws(VirtqueueError) {
                    // Size at most 32768 (UInt16 already) and a power of two; rings aligned and in RAM.
                    let queue = try SplitVirtqueue(
                        size: queueRegisters.size, maximumSize: queueMaximumSizes[selected],
                        descriptorTable: GuestAddress(queueRegisters.descriptorTable),
                        driverArea: GuestAddress(queueRegisters.driverArea),
                        deviceArea: GuestAddress(queueRegisters.deviceArea),
                        features: registers.driverFeatures, memory: memory)
                    registers.queues[selected].queue = queue
                    registers.queues[selected].ready = true
                } catch {
                    failure = .queue(index: selected, error)
                }
            default: break
            }
        }
        if let failure { core.markNeedsReset(failure) }
    }

    private func writeStatus(_ value: UInt32) {
        if value == 0 {
            resetDevice()
            return
        }
        typealias S = VirtioDeviceStatus
        var activation: (VirtioFeatures, [SplitVirtqueue?])?
        registers.withLock { registers in
            let old = S(rawValue: registers.status)
            var new = S(rawValue: value & ~S.deviceNeedsReset.rawValue)
            if new.contains(.featuresOK), !old.contains(.featuresOK) {
                // The driver must accept VERSION_1 and only offered features; otherwise FEATURES_OK stays
                // clear, which the driver reads back as a refusal.
                let accepted = registers.driverFeatures
                if !accepted.contains(.version1) || !accepted.isSubset(of: offeredFeatures) { new.remove(.featuresOK) }
            }
            if new.contains(.driverOK), !old.contains(.driverOK) {
                if new.contains(.featuresOK) {
                    activation = (registers.driverFeatures, registers.queues.map(\.queue))
                } else {
                    new.remove(.driverOK)
                }
            }
            registers.status = new.rawValue
        }
        guard let (features, queues) = activation else { return }
        activate(features: features, queues: queues)
    }

    private func activate(features: VirtioFeatures, queues: [SplitVirtqueue?]) {
        core.activate(memory: memory, features: features, queues: queues)
    }

    private func resetDevice() {
        core.deactivate()
        registers.withLock { registers in
            registers = Registers(queues: queueMaximumSizes.map { QueueRegisters(size: $0) })
        }
        core.needsResetFlag.store(false, ordering: .releasing)
        interrupt.acknowledge(.max)
        for eventfd in queueNotifyEventFDs { _ = try? eventfd.tryRead() }
    }
}

/// The part of a transport its worker thread uses: the device, the wait set, the activated context (under
/// a lock the worker holds while it calls the device), and the needs-reset state.
final class VirtioWorkerCore: Sendable {
    let device: any VirtioDevice
    let interrupt: VirtioInterruptState
    let onError: @Sendable (VirtioDeviceError) -> Void
    let queueNotifyEventFDs: [EventFD]
    let stopEvent: EventFD
    let epoll: Epoll
    let needsResetFlag = Atomic<Bool>(false)
    private let worker = Mutex(VirtioDeviceContextBox())

    static let stopToken: UInt64 = .max

    init(device: any VirtioDevice, interrupt: VirtioInterruptState, onError: @escaping @Sendable (VirtioDeviceError) -> Void)
        throws(VirtioDeviceError)
    {
        self.device = device
        self.interrupt = interrupt
        self.onError = onError
        do throws(KVMRuntimeError) {
            var eventfds: [EventFD] = []
            for _ in device.queueMaximumSizes { eventfds.append(try EventFD(options: .nonBlocking)) }
            self.queueNotifyEventFDs = eventfds
            self.stopEvent = try EventFD(options: .nonBlocking)
        } catch {
            throw .system(operation: "eventfd", errno: error.errno ?? .invalidArgument)
        }
        self.epoll = try Epoll()
        let readable = VirtioDeviceContext.WatchEvents.readable.rawValue
        for (index, eventfd) in queueNotifyEventFDs.enumerated() {
            try epoll.add(eventfd.rawValue, events: readable, token: UInt64(index))
        }
        try epoll.add(stopEvent.rawValue, events: readable, token: Self.stopToken)
    }

    func activate(memory: GuestMemory, features: VirtioFeatures, queues: [SplitVirtqueue?]) {
        let failure = worker.withLock { box -> VirtioDeviceError? in
            let context = VirtioDeviceContext(
                memory: memory, features: features, queues: queues, interrupt: interrupt, epoll: epoll,
                reportNeedsReset: { [weak self] error in self?.markNeedsReset(error) })
            do throws(VirtioDeviceError) {
                try device.activate(context)
            } catch {
                context.unwatchAll()
                return error
            }
            box.context = context
            return nil
        }
        if let failure {
            markNeedsReset(failure)
            return
        }
        // Let the worker look at every queue once: the driver may have posted buffers before DRIVER_OK.
        for eventfd in queueNotifyEventFDs { try? eventfd.write(1) }
    }

    /// Drops the context and resets the device, after any call the worker is making returns.
    func deactivate() {
        worker.withLock { box in
            guard let context = box.context else { return }
            context.unwatchAll()
            box.context = nil
            device.reset()
        }
    }

    func markNeedsReset(_ error: VirtioDeviceError) {
        let (exchanged, _) = needsResetFlag.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
        guard exchanged else { return }
        onError(error)
        interrupt.raise(VirtioInterruptState.configurationChange)
    }

    /// The worker thread's loop: until the stop eventfd fires, call the device for each notified queue and
    /// each ready backend descriptor.
    func run() {
        while true {
            for token in epoll.wait() {
                if token == Self.stopToken { return }
                if token < UInt64(queueNotifyEventFDs.count) {
                    let index = Int(token)
                    _ = try? queueNotifyEventFDs[index].tryRead()
                    worker.withLock { box in
                        guard let context = box.context, !context.needsReset, context.queues[index] != nil else { return }
                        device.queueNotified(index, context: context)
                    }
                } else if token >= VirtioDeviceContext.backendTokenBase {
                    let backendToken = Int(token - VirtioDeviceContext.backendTokenBase)
                    worker.withLock { box in
                        guard let context = box.context, !context.needsReset else { return }
                        device.backendReady(backendToken, context: context)
                    }
                }
            }
        }
    }
}

/// The activated context, kept under the worker lock.
private struct VirtioDeviceContextBox {
    var context: VirtioDeviceContext?
}
