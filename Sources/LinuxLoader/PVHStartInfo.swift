// The PVH boot ABI's `struct hvm_start_info` (xen/include/public/arch-x86/hvm/start_info.h, version 1):
// magic, module list (the initrd), command line, RSDP and the memory map, passed in EBX.

import KVM

struct PVHStartInfo {
    static let magic: UInt32 = 0x336E_C578
    static let version: UInt32 = 1
    static let size = 56
    static let moduleEntrySize = 32
    static let memoryMapEntrySize = 24

    /// The three blobs to copy: start_info itself, the module list and the memory map.
    var startInfo = LittleEndianBuffer(count: PVHStartInfo.size)
    var moduleList = LittleEndianBuffer()
    var memoryMap = LittleEndianBuffer()

    init(
        commandLineAddress: UInt64, rsdpAddress: UInt64?, memoryMap entries: [E820Entry], initrd: Range<UInt64>?,
        moduleListAddress: UInt64, memoryMapAddress: UInt64
    ) {
        startInfo.put(Self.magic, at: 0)
        startInfo.put(Self.version, at: 4)
        startInfo.put(UInt32(0), at: 8)  // flags
        if let initrd {
            startInfo.put(UInt32(1), at: 12)  // nr_modules
            startInfo.put(moduleListAddress, at: 16)
            moduleList.append(initrd.lowerBound)
            moduleList.append(UInt64(initrd.count))
            moduleList.append(UInt64(0))  // cmdline_paddr
            moduleList.append(UInt64(0))  // reserved
        }
        startInfo.put(commandLineAddress, at: 24)
        startInfo.put(rsdpAddress ?? 0, at: 32)
        startInfo.put(memoryMapAddress, at: 40)
        startInfo.put(UInt32(entries.count), at: 48)
        for entry in entries {
            memoryMap.append(entry.address)
            memoryMap.append(entry.size)
            memoryMap.append(entry.kind.rawValue)
            memoryMap.append(UInt32(0))
        }
    }
}
