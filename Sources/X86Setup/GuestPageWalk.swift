#if arch(x86_64)
import KVM
import KVMBindings

/// Guest-virtual (linear) to guest-physical translation through the guest's own page tables, for
/// a VMM that reads the instruction at RIP, the IDT or the stack of a guest running with paging
/// on: KVM_TRANSLATE when a vCPU is given and the host has it, else a software walk (Intel SDM
/// vol. 3 §4: no paging, 32-bit, PAE, 4- and 5-level paging) in which every table read is
/// bounds-checked against guest memory, so tables that point outside it end the walk (nil)
/// instead of reading anything else.
public enum GuestPageWalk {
    /// The physical address of `linear`, or nil when it is not mapped (or its tables are not in RAM).
    public static func translate(_ linear: UInt64, special: KVMSRegs, memory: GuestMemory, vcpu: VCPU? = nil) -> UInt64? {
        if special.cr0 & ControlRegister0.paging.rawValue == 0 { return linear & 0xFFFF_FFFF }
        if let vcpu, let translation = try? vcpu.translate(linear) { return translation.physicalAddress.rawValue }
        return walk(linear, special: special, memory: memory)
    }

    /// The software walk: `special` gives CR3, CR4.PAE/LA57 and EFER.LMA (CR0.PG is assumed set).
    public static func walk(_ linear: UInt64, special: KVMSRegs, memory: GuestMemory) -> UInt64? {
        walk(linear, cr3: special.cr3, cr4: ControlRegister4(rawValue: special.cr4),
             efer: ExtendedFeatureEnable(rawValue: special.efer), memory: memory)
    }

    /// The software walk from the raw register values.
    public static func walk(
        _ linear: UInt64, cr3: UInt64, cr4: ControlRegister4, efer: ExtendedFeatureEnable, memory: GuestMemory
    ) -> UInt64? {
        let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000
        func entry(_ address: UInt64, size: Int) -> UInt64? {
            if size == 4 { return (try? memory.load(UInt32.self, at: GuestAddress(address))).map(UInt64.init) }
            return try? memory.load(UInt64.self, at: GuestAddress(address))
        }
        let longMode = efer.contains(.longModeActive)
        if !longMode && !cr4.contains(.physicalAddressExtension) {
            // 32-bit paging: 10 + 10 + 12, 4 MiB pages with PS.
            let linear = linear & 0xFFFF_FFFF
            guard let pde = entry((cr3 & 0xFFFF_F000) + ((linear >> 22) & 0x3FF) * 4, size: 4), pde & 1 != 0 else { return nil }
            if pde & 0x80 != 0 && cr4.contains(.pageSizeExtensions) { return (pde & 0xFFC0_0000) | (linear & 0x3F_FFFF) }
            guard let pte = entry((pde & 0xFFFF_F000) + ((linear >> 12) & 0x3FF) * 4, size: 4), pte & 1 != 0 else { return nil }
            return (pte & 0xFFFF_F000) | (linear & 0xFFF)
        }
        var levels: [Int]  // index shift per level, top first
        var table: UInt64
        if longMode {
            levels = cr4.contains(.fiveLevelPaging) ? [48, 39, 30, 21, 12] : [39, 30, 21, 12]
            table = cr3 & addressMask
        } else {
            // PAE: the PDPT has 4 entries, 32-byte aligned.
            let linear = linear & 0xFFFF_FFFF
            guard let pdpte = entry((cr3 & 0xFFFF_FFE0) + ((linear >> 30) & 3) * 8, size: 8), pdpte & 1 != 0 else { return nil }
            levels = [21, 12]
            table = pdpte & addressMask
        }
        for shift in levels {
            guard let value = entry(table + ((linear >> UInt64(shift)) & 0x1FF) * 8, size: 8), value & 1 != 0 else { return nil }
            let isLeaf = shift == 12 || (value & 0x80 != 0 && (shift == 21 || shift == 30))
            if isLeaf {
                let pageMask = (UInt64(1) << UInt64(shift)) - 1
                return (value & addressMask & ~pageMask) | (linear & pageMask)
            }
            table = value & addressMask
        }
        return nil
    }

    /// Reads `count` bytes at a guest-virtual address, page by page; stops at the first unmapped byte.
    public static func read(_ linear: UInt64, count: Int, special: KVMSRegs, memory: GuestMemory, vcpu: VCPU? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        var address = linear
        while bytes.count < count {
            guard let physical = translate(address, special: special, memory: memory, vcpu: vcpu) else { break }
            let chunk = min(count - bytes.count, Int(4096 - (address & 0xFFF)))
            guard let data = try? memory.readBytes(at: GuestAddress(physical), count: chunk) else { break }
            bytes += data
            address &+= UInt64(chunk)
        }
        return bytes
    }

    /// Writes bytes at a guest-virtual address, page by page; false if any page is unmapped (the
    /// pages before it are then written).
    public static func write(_ bytes: [UInt8], at linear: UInt64, special: KVMSRegs, memory: GuestMemory, vcpu: VCPU? = nil) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let address = linear &+ UInt64(offset)
            guard let physical = translate(address, special: special, memory: memory, vcpu: vcpu) else { return false }
            let chunk = min(bytes.count - offset, Int(4096 - (address & 0xFFF)))
            guard (try? memory.write(bytes: Array(bytes[offset ..< (offset + chunk)]), at: GuestAddress(physical))) != nil else {
                return false
            }
            offset += chunk
        }
        return true
    }
}
#endif
