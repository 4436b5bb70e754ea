import KVM
import Synchronization

/// How a transport raises its interrupt: an irqfd (KVM injects the interrupt without the VMM, the
/// usual choice) or a closure (tests, or a VMM with its own interrupt controller model).
public struct VirtioInterruptTrigger: Sendable {
    private let trigger: @Sendable () -> Void

    /// Calls `trigger` for each interrupt.
    public init(_ trigger: @escaping @Sendable () -> Void) { self.trigger = trigger }

    /// Writes 1 to `eventfd`, registered with `KVM_IRQFD` for the device's GSI (edge-triggered). Errors
    /// (a full counter cannot happen at 1 per interrupt) go to `onError`.
    public static func irqfd(_ eventfd: EventFD, onError: @escaping @Sendable (KVMRuntimeError) -> Void = { _ in }) -> Self {
        Self {
            do throws(KVMRuntimeError) { try eventfd.write(1) } catch { onError(error) }
        }
    }

    func fire() { trigger() }
}

/// A transport's interrupt status (`InterruptStatus`): bit 0 "used buffers", bit 1 "configuration
/// changed". Devices raise it through ``VirtioDeviceContext``.
final class VirtioInterruptState: Sendable {
    static let usedBuffer: UInt32 = 1
    static let configurationChange: UInt32 = 2

    let status = Atomic<UInt32>(0)
    /// `ConfigGeneration`: bumped on every configuration change the device announces.
    let configurationGeneration = Atomic<UInt32>(0)
    let trigger: VirtioInterruptTrigger

    init(trigger: VirtioInterruptTrigger) { self.trigger = trigger }

    func raise(_ bits: UInt32) {
        status.bitwiseOr(bits, ordering: .sequentiallyConsistent)
        trigger.fire()
    }

    /// Announces a change of the configuration space: a new generation, then the interrupt.
    func announceConfigurationChange() {
        configurationGeneration.add(1, ordering: .sequentiallyConsistent)
        raise(Self.configurationChange)
    }

    func acknowledge(_ bits: UInt32) {
        status.bitwiseAnd(~bits, ordering: .sequentiallyConsistent)
    }
}
