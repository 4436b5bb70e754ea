// How much memory the VMM itself costs: the process's resident set minus the guest pages that are
// resident (mincore over each guest mapping). What is left is the VMM: code, heap, stacks, KVM's
// per-vCPU pages mapped into the process. Most of that is shared library code (the Swift runtime,
// libc), shared with every other process using them; the private part (smaps_rollup's Private_*,
// minus the guest's pages, which are private) is what this VMM alone adds.

import Glibc
import KVM

struct MemoryReport {
    var residentKiB: Int
    var peakResidentKiB: Int
    var guestResidentKiB: Int
    var privateKiB: Int
    var overheadKiB: Int { residentKiB - guestResidentKiB }
    var privateOverheadKiB: Int { privateKiB - guestResidentKiB }

    static func measure(memory: GuestMemory) -> MemoryReport {
        let status = readFields("/proc/self/status")
        let rollup = readFields("/proc/self/smaps_rollup")
        var guestPages = 0
        for region in memory.regions {
            region.mapping.withUnsafeMutableBytes { buffer in
                let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
                var vector = [UInt8](repeating: 0, count: (buffer.count + pageSize - 1) / pageSize)
                if mincore(buffer.baseAddress, buffer.count, &vector) == 0 {
                    guestPages += vector.reduce(0) { $0 + Int($1 & 1) } * (pageSize / 1024)
                }
            }
        }
        return MemoryReport(
            residentKiB: status["VmRSS"] ?? 0, peakResidentKiB: status["VmHWM"] ?? 0, guestResidentKiB: guestPages,
            privateKiB: (rollup["Private_Clean"] ?? 0) + (rollup["Private_Dirty"] ?? 0))
    }

    /// The "kB" fields of a /proc file such as /proc/self/status.
    static func readFields(_ path: String) -> [String: Int] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [:] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += buffer[0..<count]
        }
        var fields: [String: Int] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[1].hasSuffix("kB") else { continue }
            fields[String(parts[0])] = Int(parts[1].dropLast(2).trimmingSpaces)
        }
        return fields
    }

    var summary: String {
        "memory: VmRSS \(residentKiB) KiB (peak \(peakResidentKiB) KiB), guest memory resident \(guestResidentKiB) KiB, "
            + "VMM overhead \(overheadKiB) KiB (RSS minus guest), of which \(privateOverheadKiB) KiB private (the rest is shared library code)"
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}
