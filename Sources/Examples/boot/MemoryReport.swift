// How much memory the VMM itself costs: the process's resident set minus the resident part of the
// guest RAM mappings, both from /proc/self/smaps. What is left is the VMM: code, heap, stacks, KVM's
// per-vCPU pages mapped into the process. Most of that is code and constant data mapped from the
// executable, which is linked fully static (the Swift runtime and libc included; see `smallVMM` in
// Package.swift), and which the kernel can share between VMM processes or drop and reread; the dirty
// private part outside guest RAM (heap, stacks, written data: Private_Dirty) is what this VMM alone
// pins. Benchmarks/vmm-memory.sh measures the same from outside, for every example and for QEMU.

import Glibc
import KVM

struct MemoryReport {
    var residentKiB: Int
    var peakResidentKiB: Int
    var guestResidentKiB: Int
    var privateOverheadKiB: Int
    var overheadKiB: Int { residentKiB - guestResidentKiB }

    static func measure(memory: GuestMemory) -> MemoryReport {
        let guestRanges = memory.regions.map { $0.hostAddress..<($0.hostAddress + $0.size) }
        var resident = 0, guest = 0, privateOutside = 0
        var inGuest = false
        for line in readFile("/proc/self/smaps").split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if !first.hasSuffix(":") {  // a mapping's header line: "start-end perms ..."
                let bounds = first.split(separator: "-")
                if bounds.count == 2, let start = UInt64(bounds[0], radix: 16) {
                    inGuest = guestRanges.contains { $0.contains(start) }
                }
                continue
            }
            guard fields.count >= 2, let kib = Int(fields[1]) else { continue }
            switch first {
            case "Rss:":
                resident += kib
                if inGuest { guest += kib }
            case "Private_Dirty:":
                if !inGuest { privateOutside += kib }
            default: break
            }
        }
        let status = fields(readFile("/proc/self/status"))
        return MemoryReport(
            residentKiB: resident, peakResidentKiB: status["VmHWM"] ?? 0, guestResidentKiB: guest,
            privateOverheadKiB: privateOutside)
    }

    /// A whole /proc file.
    static func readFile(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The "kB" fields of a file such as /proc/self/status.
    static func fields(_ text: String) -> [String: Int] {
        var fields: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[1].hasSuffix("kB") else { continue }
            fields[String(parts[0])] = Int(parts[1].dropLast(2).trimmingSpaces)
        }
        return fields
    }

    var summary: String {
        "memory: RSS \(residentKiB) KiB (peak \(peakResidentKiB) KiB), guest RAM resident \(guestResidentKiB) KiB, "
            + "VMM overhead \(overheadKiB) KiB (RSS minus guest RAM), of which \(privateOverheadKiB) KiB private dirty (the rest is code and constant data)"
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
