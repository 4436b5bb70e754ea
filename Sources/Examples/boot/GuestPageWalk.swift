// Guest-virtual to guest-physical translation, for reading the instruction at RIP, the IDT and the
// stack of a guest that runs with paging on: KVM_TRANSLATE when the host has it, else a walk of the
// guest's own page tables (no paging, 32-bit, PAE, 4- and 5-level), every read bounds-checked.

import KVM
import KVMBindings

enum GuestPageWalk {
    /// The physical address of `linear`, or nil when it is not mapped (or the tables are not in RAM).
    static func translate(_ linear: UInt64, special: KVMSRegs, memory: GuestMemory, vcpu: VCPU? = nil) -> UInt64? {
        if special.cr0 & CPUSetup.cr0PG == 0 { return linear & 0xFFFF_FFFF }
        if let vcpu, let translation = try? vcpu.translate(linear) { return translation.physicalAddress.rawValue }
        return walk(linear, special: special, memory: memory)
    }

    /// The software walk (Intel SDM vol. 3 §4): `special` gives CR3, CR4.PAE/LA57 and EFER.LMA.
    static func walk(_ linear: UInt64, special: KVMSRegs, memory: GuestMemory) -> UInt64? {
        let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000
        func entry(_ address: UInt64, size: Int) -> UInt64? {
            if size == 4 { return (try? memory.load(UInt32.self, at: GuestAddress(address))).map(UInt64.init) }
            return try? memory.load(UInt64.self, at: GuestAddress(address))
        }
        let longMode = special.efer & CPUSetup.eferLMA != 0
        if !longMode && special.cr4 & CPUSetup.cr4PAE == 0 {
            // 32-bit paging: 10 + 10 + 12, 4 MiB pages with PS.
            let linear = linear & 0xFFFF_FFFF
            guard let pde = entry((special.cr3 & 0xFFFF_F000) + ((linear >> 22) & 0x3FF) * 4, size: 4), pde & 1 != 0 else { return nil }
            if pde & 0x80 != 0 { return (pde & 0xFFC0_0000) | (linear & 0x3F_FFFF) }
            guard let pte = entry((pde & 0xFFFF_F000) + ((linear >> 12) & 0x3FF) * 4, size: 4), pte & 1 != 0 else { return nil }
            return (pte & 0xFFFF_F000) | (linear & 0xFFF)
        }
        var levels: [Int]  // index shift per level, top first
        var table: UInt64
        if longMode {
            levels = special.cr4 & (1 << 12) != 0 ? [48, 39, 30, 21, 12] : [39, 30, 21, 12]
            table = special.cr3 & addressMask
        } else {
            // PAE: the PDPT has 4 entries, 32-byte aligned.
            guard let pdpte = entry((special.cr3 & 0xFFFF_FFE0) + ((linear >> 30) & 3) * 8, size: 8), pdpte & 1 != 0 else { return nil }
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
    static func read(_ linear: UInt64, count: Int, special: KVMSRegs, memory: GuestMemory, vcpu: VCPU? = nil) -> [UInt8] {
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

    /// Writes bytes at a guest-virtual address, page by page; false if any page is unmapped.
    static func write(_ bytes: [UInt8], at linear: UInt64, special: KVMSRegs, memory: GuestMemory, vcpu: VCPU? = nil) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let address = linear &+ UInt64(offset)
            guard let physical = translate(address, special: special, memory: memory, vcpu: vcpu) else { return false }
            let chunk = min(bytes.count - offset, Int(4096 - (address & 0xFFF)))
            guard (try? memory.write(bytes: Array(bytes[offset..<(offset + chunk)]), at: GuestAddress(physical))) != nil else { return false }
            offset += chunk
        }
        return true
    }
}
