import KVMBindings

extension KVMEnableCap {
    /// The `KVM_ENABLE_CAP` request for `capability` with up to four arguments (more are ignored).
    init(_ capability: KVMCapability, flags: UInt32, arguments: [UInt64]) {
        self.init()
        cap = UInt32(bitPattern: capability.rawValue)
        self.flags = flags
        for (index, argument) in arguments.prefix(4).enumerated() { args[index] = argument }
    }
}
