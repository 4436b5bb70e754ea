#if arch(x86_64)
import KVMBindings

/// Sync regs (`KVM_CAP_SYNC_REGS`): KVM copies registers into `kvm_run.s.regs` on every exit and takes
/// back the classes marked dirty on the next entry, so an exit handler reads and writes registers
/// without `KVM_GET_REGS`/`KVM_SET_REGS` ioctls. rust-vmm does not wrap this.
extension VCPU {
    static let syncRegsOffset = MemoryLayout<KVMRun>.offset(of: \KVMRun.s) ?? 304
    static let validRegsOffset = MemoryLayout<KVMRun>.offset(of: \KVMRun.kvmValidRegs) ?? 288
    static let dirtyRegsOffset = MemoryLayout<KVMRun>.offset(of: \KVMRun.kvmDirtyRegs) ?? 296

    /// The register classes this kernel can sync (`KVM_CHECK_EXTENSION(KVM_CAP_SYNC_REGS)`).
    public func supportedSyncRegisters() throws(KVMRuntimeError) -> KVMSyncRegsFlags {
        KVMSyncRegsFlags(rawValue: UInt64(try vm.checkExtension(.syncRegs)))
    }

    /// Asks KVM to fill `kvm_run.s.regs` with `classes` on every exit (`kvm_valid_regs`).
    /// - Throws: `.capabilityMissing` when the kernel cannot sync one of them.
    public func enableSyncRegisters(_ classes: KVMSyncRegsFlags) throws(KVMRuntimeError) {
        let supported = try supportedSyncRegisters()
        guard supported.isSuperset(of: classes) else {
            throw .capabilityMissing(rawValue: KVMCapability.syncRegs.rawValue, name: "KVM_CAP_SYNC_REGS (\(classes.rawValue))")
        }
        // SAFETY: kvm_valid_regs is a u64 at its C offset inside the kvm_run mapping; this thread owns it
        // outside KVM_RUN.
        runPage.storeBytes(of: classes.rawValue, toByteOffset: Self.validRegsOffset, as: UInt64.self)
    }

    /// The registers, flags and events KVM synced at the last exit (only the enabled classes are current).
    public var syncedRegisters: KVMSyncRegs {
        // SAFETY: the sync-regs union lies inside the mapping; KVMSyncRegs mirrors its `regs` member.
        runPage.loadUnaligned(fromByteOffset: Self.syncRegsOffset, as: KVMSyncRegs.self)
    }

    /// Writes general-purpose registers through the sync area; KVM loads them on the next `run()`.
    public func setSyncedRegisters(_ registers: KVMRegs) {
        var synced = syncedRegisters
        synced.regs = registers
        storeSynced(synced, marking: .regs)
    }

    /// Writes special registers through the sync area; KVM loads them on the next `run()`.
    public func setSyncedSpecialRegisters(_ registers: KVMSRegs) {
        var synced = syncedRegisters
        synced.sregs = registers
        storeSynced(synced, marking: .sregs)
    }

    private func storeSynced(_ synced: KVMSyncRegs, marking dirty: KVMSyncRegsFlags) {
        // SAFETY: as in syncedRegisters; kvm_dirty_regs is a u64 at its C offset inside the mapping.
        runPage.storeBytes(of: synced, toByteOffset: Self.syncRegsOffset, as: KVMSyncRegs.self)
        let current = runPage.load(fromByteOffset: Self.dirtyRegsOffset, as: UInt64.self)
        runPage.storeBytes(of: current | dirty.rawValue, toByteOffset: Self.dirtyRegsOffset, as: UInt64.self)
    }
}
#endif
