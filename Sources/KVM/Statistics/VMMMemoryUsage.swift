// How much memory the VMM itself costs: the process's resident set minus the resident part of the
// guest RAM mappings, both from /proc/self/smaps. Most of what is left is code and constant data mapped
// from the executable (which the kernel can share between VMM processes or drop and reread); the dirty
// private part outside guest RAM (heap, stacks, written data: Private_Dirty) is what the VMM alone pins.
// Benchmarks/vmm-memory.sh measures the same from outside.

import Glibc

/// The VMM's own memory: the process's resident set minus the resident part of guest RAM, both
/// from `/proc/self/smaps`. What is left is the VMM: code, heap, stacks, KVM's per-vCPU pages
/// mapped into the process.
///
/// ```swift
/// print(VMMMemoryUsage.measure(memory: vm.memory).summary)
/// ```
public struct VMMMemoryUsage: Hashable, Sendable {
    public var residentKiB: Int
    public var peakResidentKiB: Int
    public var guestResidentKiB: Int
    public var privateOverheadKiB: Int
    public var overheadKiB: Int { residentKiB - guestResidentKiB }

    /// Reads /proc/self/smaps and /proc/self/status now.
    public static func measure(memory: GuestMemory) -> VMMMemoryUsage {
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
        return VMMMemoryUsage(
            residentKiB: resident, peakResidentKiB: status["VmHWM"] ?? 0, guestResidentKiB: guest,
            privateOverheadKiB: privateOutside)
    }

    /// A whole /proc file.
    private static func readFile(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            // SAFETY: read(2) writes at most `buffer.count` bytes into the live array's storage.
            let count = unsafe buffer.withUnsafeMutableBytes { unsafe read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The "kB" fields of a file such as /proc/self/status.
    private static func fields(_ text: String) -> [String: Int] {
        var fields: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[1].hasSuffix("kB") else { continue }
            fields[String(parts[0])] = Int(parts[1].dropLast(2).trimmingSpaces)
        }
        return fields
    }

    /// One line for a log.
    public var summary: String {
        "memory: RSS \(residentKiB) KiB (peak \(peakResidentKiB) KiB), guest RAM resident \(guestResidentKiB) KiB, "
            + "VMM overhead \(overheadKiB) KiB (RSS minus guest RAM), of which \(privateOverheadKiB) KiB private dirty (the rest is code and constant data)"
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}
