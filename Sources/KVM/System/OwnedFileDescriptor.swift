import KVMBindings
import SystemPackage

/// Owns a KVM file descriptor and closes it exactly once, when the owner is released.
final class OwnedFileDescriptor<Kind: KVMFileDescriptorKind>: Sendable {
    let typed: KVMFileDescriptor<Kind>

    init(_ typed: KVMFileDescriptor<Kind>) { self.typed = typed }

    deinit { try? typed.fileDescriptor.close() }
}
