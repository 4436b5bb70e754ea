import Glibc
import KVMBindings
import SystemPackage

/// One statistic a binary stats fd describes (`struct kvm_stats_desc`).
public struct StatisticDescriptor: Sendable, Hashable {
    public let name: String
    public let type: KVMStatsType
    public let unit: KVMStatsUnit
    public let base: KVMStatsBase
    /// Value = raw × base^exponent (e.g. nanoseconds: base 10, exponent -9).
    public let exponent: Int16
    /// Number of 64-bit values (1 for counters; buckets for histograms).
    public let count: Int
    /// Offset of the values from the data block.
    public let offset: Int
    public let bucketSize: Int
}

/// Binary statistics (`KVM_GET_STATS_FD`, needs `KVM_CAP_BINARY_STATS_FD`): the kernel's per-VM or
/// per-vCPU counters (exits, halts, page faults, ...), read without debugfs. rust-vmm does not wrap this.
public final class KVMStatistics: Sendable {
    let fd: FileDescriptor
    /// The id string of the stats fd (e.g. `kvm-1234/vcpu-0`).
    public let id: String
    public let descriptors: [StatisticDescriptor]
    let dataOffset: Int

    init(fd: FileDescriptor) throws(KVMRuntimeError) {
        self.fd = fd
        do {
            let header: KVMStatsHeader = try Self.read(KVMStatsHeader.self, from: fd, at: 0)
            let nameSize = Int(header.nameSize)
            var idBytes = try Self.readBytes(from: fd, at: Int(header.idOffset), count: nameSize)
            idBytes = Array(idBytes.prefix { $0 != 0 })
            id = String(decoding: idBytes, as: UTF8.self)
            let stride = MemoryLayout<KVMStatsDesc>.size + nameSize
            let table = try Self.readBytes(from: fd, at: Int(header.descOffset), count: stride * Int(header.numDesc))
            descriptors = (0..<Int(header.numDesc)).map { index in
                let start = index * stride
                let description = table[start..<(start + MemoryLayout<KVMStatsDesc>.size)].withUnsafeBytes {
                    $0.loadUnaligned(as: KVMStatsDesc.self)
                }
                let nameStart = start + KVMStatsDesc.elementsOffset
                let name = table[nameStart..<(nameStart + nameSize)].prefix { $0 != 0 }
                let flags = description.flags
                return StatisticDescriptor(
                    name: String(decoding: name, as: UTF8.self),
                    type: KVMStatsType(rawValue: flags & UInt32(KVMConstants.statsTypeMask)),
                    unit: KVMStatsUnit(rawValue: flags & UInt32(KVMConstants.statsUnitMask)),
                    base: KVMStatsBase(rawValue: flags & UInt32(KVMConstants.statsBaseMask)),
                    exponent: description.exponent, count: Int(description.size), offset: Int(description.offset),
                    bucketSize: Int(description.bucketSize))
            }
            dataOffset = Int(header.dataOffset)
        } catch {
            try? fd.close()
            throw error
        }
    }

    deinit { try? fd.close() }

    /// The current values of every statistic, by name (one value for counters, several for histograms).
    public func values() throws(KVMRuntimeError) -> [String: [UInt64]] {
        let end = descriptors.map { $0.offset + $0.count * 8 }.max() ?? 0
        let data = try Self.readBytes(from: fd, at: dataOffset, count: end)
        var result: [String: [UInt64]] = [:]
        for descriptor in descriptors {
            result[descriptor.name] = (0..<descriptor.count).map { index in
                let start = descriptor.offset + index * 8
                return data[start..<(start + 8)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            }
        }
        return result
    }

    /// The current value of one counter, or nil if the kernel has no statistic of that name.
    public func value(_ name: String) throws(KVMRuntimeError) -> UInt64? {
        guard let descriptor = descriptors.first(where: { $0.name == name }), descriptor.count > 0 else { return nil }
        let bytes = try Self.readBytes(from: fd, at: dataOffset + descriptor.offset, count: 8)
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    static func read<T: BitwiseCopyable>(_: T.Type, from fd: FileDescriptor, at offset: Int) throws(KVMRuntimeError) -> T {
        let bytes = try readBytes(from: fd, at: offset, count: MemoryLayout<T>.size)
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    /// `pread` of exactly `count` bytes (the stats fd is read by offset; it has no file position).
    static func readBytes(from fd: FileDescriptor, at offset: Int, count: Int) throws(KVMRuntimeError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let result = bytes.withUnsafeMutableBytes { buffer in
                // SAFETY: reads at most `count - done` bytes into the buffer's unfilled tail.
                pread(fd.rawValue, buffer.baseAddress! + done, count - done, off_t(offset + done))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw .system(KVMError.fromCurrentErrno(operation: "pread(stats fd)"))
            }
            if result == 0 {
                throw .unexpectedResult(operation: "pread(stats fd)", reason: "end of data after \(offset + done) bytes, \(offset + count) expected")
            }
            done += result
        }
        return bytes
    }
}

extension VirtualMachine {
    /// `KVM_GET_STATS_FD` on the VM (needs `KVM_CAP_BINARY_STATS_FD`).
    public func statistics() throws(KVMRuntimeError) -> KVMStatistics {
        try require(.binaryStatsFD)
        let fd = try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getStatsFD() }
        return try KVMStatistics(fd: fd)
    }
}

extension VCPU {
    /// `KVM_GET_STATS_FD` on the vCPU (needs `KVM_CAP_BINARY_STATS_FD`): e.g. `exits`, `io_exits`, `halt_exits`.
    public func statistics() throws(KVMRuntimeError) -> KVMStatistics {
        try vm.require(.binaryStatsFD)
        let fd = try ioctlCall { () throws(KVMIoctlError) in try fileDescriptor.getStatsFD() }
        return try KVMStatistics(fd: fd)
    }
}
