// Guest-virtual reads and writes for the fallbacks, which only ever act on a vCPU in 64-bit mode with
// paging on: each page is translated by KVM_TRANSLATE under the vCPU's current CR3, or, where the host
// does not implement it, by a walk of the guest's own 4- or 5-level tables. Every read is bounds-checked
// by GuestMemory; an unmapped byte ends the access.

import KVM
import KVMBindings

struct GuestVirtualMemory {
    let vcpu: VCPU
    let memory: GuestMemory
    let special: KVMSRegs

    /// The guest-physical address of `linear`, or nil when it is not mapped.
    func translate(_ linear: UInt64) -> UInt64? {
        if special.cr0 & X86Constants.cr0PG == 0 { return linear & 0xFFFF_FFFF }
        if let translation = try? vcpu.translate(linear) { return translation.physicalAddress.rawValue }
        return walk(linear)
    }

    /// The 4- or 5-level long-mode walk (Intel SDM vol. 3 §4.5), for hosts without KVM_TRANSLATE.
    private func walk(_ linear: UInt64) -> UInt64? {
        guard special.efer & X86Constants.eferLMA != 0 else { return nil }
        let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000
        var table = special.cr3 & addressMask
        let shifts: [UInt64] = special.cr4 & X86Constants.cr4LA57 != 0 ? [48, 39, 30, 21, 12] : [39, 30, 21, 12]
        for shift in shifts {
            guard let entry = try? memory.load(UInt64.self, at: GuestAddress(table + ((linear >> shift) & 0x1FF) * 8)),
                entry & 1 != 0
            else { return nil }
            if shift == 12 || (entry & 0x80 != 0 && (shift == 21 || shift == 30)) {
                let pageMask = (UInt64(1) << shift) - 1
                return (entry & addressMask & ~pageMask) | (linear & pageMask)
            }
            table = entry & addressMask
        }
        return nil
    }

    /// `count` bytes at `linear`, page by page; fewer when a page is unmapped.
    func read(_ linear: UInt64, count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        var address = linear
        while bytes.count < count {
            guard let physical = translate(address) else { break }
            let chunk = min(count - bytes.count, Int(4096 - (address & 0xFFF)))
            guard let data = try? memory.readBytes(at: GuestAddress(physical), count: chunk) else { break }
            bytes += data
            address &+= UInt64(chunk)
        }
        return bytes
    }

    /// `count` little-endian 64-bit words at `linear`, or nil if any byte is unmapped.
    func words(_ linear: UInt64, count: Int) -> [UInt64]? {
        let bytes = read(linear, count: count * 8)
        guard bytes.count == count * 8 else { return nil }
        return (0..<count).map { LittleEndian.load(UInt64.self, from: bytes, at: $0 * 8)! }
    }

    /// Writes `bytes` at `linear`, page by page; false if any page is unmapped.
    func write(_ bytes: [UInt8], at linear: UInt64) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let address = linear &+ UInt64(offset)
            guard let physical = translate(address) else { return false }
            let chunk = min(bytes.count - offset, Int(4096 - (address & 0xFFF)))
            guard (try? memory.write(bytes: Array(bytes[offset..<(offset + chunk)]), at: GuestAddress(physical))) != nil else {
                return false
            }
            offset += chunk
        }
        return true
    }
}

/// Bounds-checked little-endian loads and stores on byte arrays.
enum LittleEndian {
    static func load<T: FixedWidthInteger>(_: T.Type, from bytes: [UInt8], at offset: Int) -> T? {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset <= bytes.count - size else { return nil }
        var value: T = 0
        for index in 0..<size { value |= T(bytes[offset + index]) << (8 * index) }
        return value
    }

    static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}

/// `0x…` hexadecimal, for messages.
func hex<T: BinaryInteger>(_ value: T) -> String { "0x" + String(value, radix: 16) }

/// The architectural constants the fallbacks test.
enum X86Constants {
    static let cr0PE: UInt64 = 1 << 0
    static let cr0ET: UInt64 = 1 << 4
    static let cr0PG: UInt64 = 1 << 31
    static let cr4PAE: UInt64 = 1 << 5
    static let cr4LA57: UInt64 = 1 << 12
    static let eferSCE: UInt64 = 1 << 0
    static let eferLME: UInt64 = 1 << 8
    static let eferLMA: UInt64 = 1 << 10
    static let eferNXE: UInt64 = 1 << 11
    static let msrSTAR: UInt32 = 0xC000_0081
    static let msrLSTAR: UInt32 = 0xC000_0082
    static let msrCSTAR: UInt32 = 0xC000_0083
    static let msrSFMASK: UInt32 = 0xC000_0084
    static let rflagsTF: UInt64 = 1 << 8
    static let rflagsIF: UInt64 = 1 << 9
    static let rflagsNT: UInt64 = 1 << 14
    static let rflagsRF: UInt64 = 1 << 16
    static let rflagsVM: UInt64 = 1 << 17
}
