import KVM

/// An interrupt output a device drives: the device reports each change of level, and the VMM decides
/// what that means for the guest (a `KVM_IRQ_LINE` on the in-kernel PIC and IOAPIC, an irqfd, a
/// counter in a test).
///
/// Devices call it while holding their own lock, so that levels arrive in order across threads: the
/// closure must not call back into the device.
public struct InterruptLine: Sendable {
    private let setLevel: @Sendable (Bool) -> Void

    /// A line whose level changes go to `setLevel`.
    public init(_ setLevel: @escaping @Sendable (Bool) -> Void) {
        self.setLevel = setLevel
    }

    /// Sets the line's level (true: asserted).
    public func set(_ level: Bool) { setLevel(level) }

    /// The in-kernel irqchip's input `irq` (`KVM_IRQ_LINE`, level-triggered: the line follows the
    /// device's output). Errors (a VM without an irqchip) go to `onError`.
    public static func irqLine(
        _ irq: UInt32, of vm: VirtualMachine, onError: @escaping @Sendable (KVMRuntimeError) -> Void = { _ in }
    ) -> InterruptLine {
        InterruptLine { level in
            do throws(KVMRuntimeError) { try vm.setIRQLine(irq, level: level) } catch { onError(error) }
        }
    }

    /// An irqfd (`KVM_IRQFD`, registered by the VMM for a GSI): each rising edge signals `eventfd`, and
    /// KVM injects an edge on that GSI. Falling edges need no action. This suits edge-triggered
    /// wiring (an ISA IRQ the guest programs as edge, as Linux does for the 8250's IRQ 4); for a
    /// level-triggered GSI use ``irqLine(_:of:onError:)`` or an irqfd with a resample eventfd.
    public static func irqfd(_ eventfd: EventFD, onError: @escaping @Sendable (KVMRuntimeError) -> Void = { _ in }) -> InterruptLine {
        InterruptLine { level in
            guard level else { return }
            do throws(KVMRuntimeError) { try eventfd.write(1) } catch { onError(error) }
        }
    }

    /// A line connected to nothing.
    public static let disconnected = InterruptLine { _ in }
}
