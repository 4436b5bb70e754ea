import DeviceBus
import KVM

/// Why attaching a virtio-mmio device to a machine failed.
public enum VirtioAttachError: Error, Sendable, CustomStringConvertible {
    /// The irqfd or an ioeventfd could not be registered (no in-kernel irqchip, a clash with another
    /// ioeventfd...).
    case kvm(KVMRuntimeError)
    /// The window overlaps another device on the bus.
    case bus(BusError)
    /// The transport could not be created.
    case device(VirtioDeviceError)

    public var description: String {
        switch self {
        case .kvm(let error): "virtio-mmio attach: \(error)"
        case .bus(let error): "virtio-mmio attach: \(error)"
        case .device(let error): "virtio-mmio attach: \(error)"
        }
    }
}

extension VirtioMMIOTransport {
    /// Attaches `device` to a machine in one step: an irqfd for the placement's GSI, the transport, its
    /// queue-notify ioeventfds, and the window on `bus`. What is done is undone if a later step fails.
    ///
    /// The VM needs an in-kernel irqchip (`createIRQChip()`) before this is called. Announce the device with
    /// the placement's ``VirtioMMIOPlacement/kernelCommandLineFragment`` or in the DSDT.
    ///
    /// - Parameters:
    ///   - device: The device to present.
    ///   - placement: Its window and GSI.
    ///   - vm: The machine; its `memory` is what the device's queues use.
    ///   - bus: The MMIO bus the VMM routes MMIO exits through.
    ///   - onError: Called when the driver's misbehaviour makes the device need a reset.
    /// - Returns: The transport (keep it, and call ``shutdown()`` or release it when the machine stops).
    public static func attach(
        _ device: any VirtioDevice, at placement: VirtioMMIOPlacement, to vm: VirtualMachine, bus: inout Bus,
        onError: @escaping @Sendable (VirtioDeviceError) -> Void = { _ in }
    ) throws(VirtioAttachError) -> VirtioMMIOTransport {
        let irqfd: EventFD
        do { irqfd = try vm.makeIRQFD(gsi: placement.gsi) } catch { throw .kvm(error) }
        let transport: VirtioMMIOTransport
        do {
            transport = try VirtioMMIOTransport(device: device, memory: vm.memory, interrupt: .irqfd(irqfd), onError: onError)
        } catch {
            try? vm.unregisterIRQFD(irqfd, gsi: placement.gsi)
            throw .device(error)
        }
        do {
            try transport.registerIOEventFDs(on: vm, base: placement.base)
        } catch {
            transport.shutdown()
            try? vm.unregisterIRQFD(irqfd, gsi: placement.gsi)
            throw .kvm(error)
        }
        do {
            try bus.register(transport, base: placement.base, size: placement.size)
        } catch {
            try? transport.unregisterIOEventFDs(on: vm, base: placement.base)
            transport.shutdown()
            try? vm.unregisterIRQFD(irqfd, gsi: placement.gsi)
            throw .bus(error)
        }
        return transport
    }
}
