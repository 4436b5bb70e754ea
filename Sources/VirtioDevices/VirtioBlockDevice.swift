import CVirtioShims
import Glibc
import KVM
import VirtioMMIO
import VirtioQueue

/// What the guest sees of a block device (virtio-blk, device ID 2), and the image behind it.
///
/// ```swift
/// let image = try DiskImageAttachment(path: "rootfs.ext4", readOnly: false)
/// let disk = VirtioBlockDevice(configuration: .init(attachment: image, serial: "rootfs"))
/// ```
public struct VirtioBlockDeviceConfiguration: Sendable {
    /// The disk image.
    public var attachment: DiskImageAttachment
    /// The identifier the guest reads with `VIRTIO_BLK_T_GET_ID` (Linux: `/sys/block/vda/serial`), at
    /// most 20 bytes of UTF-8 (longer ones are cut).
    public var serial: String
    /// The request queue's maximum size.
    public var queueSize: UInt16
    /// Whether to offer discard and write-zeroes (ignored for a read-only disk).
    public var allowsDiscard: Bool

    public init(attachment: DiskImageAttachment, serial: String = "", queueSize: UInt16 = 256, allowsDiscard: Bool = true) {
        self.attachment = attachment
        self.serial = serial
        self.queueSize = queueSize
        self.allowsDiscard = allowsDiscard
    }
}

/// A virtio block device over a raw image: reads, writes, flush, discard, write-zeroes and the serial
/// id, with every request's sector range checked against the image's size.
///
/// A request whose shape is wrong (no room for the status byte, a header shorter than 16 bytes) marks
/// the device as needing a reset; one that asks for something impossible (sectors past the end, a write
/// to a read-only disk, a length that is not whole sectors) fails with `VIRTIO_BLK_S_IOERR`, an unknown
/// type with `VIRTIO_BLK_S_UNSUPP`, and the guest goes on.
public final class VirtioBlockDevice: VirtioDevice {
    public let configuration: VirtioBlockDeviceConfiguration

    public static let sectorSize: UInt64 = 512
    /// The most bytes moved through the bounce buffer at once.
    static let chunkSize = 1 << 20
    /// `seg_max`: the most data buffers a request may have.
    static let maximumSegments: UInt32 = 126
    /// The most discard/write-zeroes segments per request, and sectors per segment.
    static let maximumDiscardSegments: UInt32 = 32
    static let maximumDiscardSectors: UInt32 = 0x3FFF_FFFF

    public init(configuration: VirtioBlockDeviceConfiguration) {
        self.configuration = configuration
    }

    private var attachment: DiskImageAttachment { configuration.attachment }
    private var discards: Bool { configuration.allowsDiscard && !attachment.isReadOnly }

    /// The capacity in 512-byte sectors.
    public var capacity: UInt64 { attachment.size / Self.sectorSize }

    // MARK: Features and configuration space

    public enum Feature {
        public static let segmentMaximum = VirtioFeatures(bit: 2)
        public static let readOnly = VirtioFeatures(bit: 5)
        public static let blockSize = VirtioFeatures(bit: 6)
        public static let flush = VirtioFeatures(bit: 9)
        public static let discard = VirtioFeatures(bit: 13)
        public static let writeZeroes = VirtioFeatures(bit: 14)
    }

    public var deviceType: VirtioDeviceType { .block }
    public var offeredFeatures: VirtioFeatures {
        var features: VirtioFeatures = [Feature.segmentMaximum, Feature.blockSize, Feature.flush]
        if attachment.isReadOnly { features.insert(Feature.readOnly) }
        if discards { features.formUnion([Feature.discard, Feature.writeZeroes]) }
        return features
    }
    public var queueMaximumSizes: [UInt16] { [configuration.queueSize] }

    /// `struct virtio_blk_config` up to `write_zeroes_may_unmap` (60 bytes).
    public var configurationSize: Int { 60 }

    public func readConfiguration(at offset: Int, count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: configurationSize)
        func put<T: FixedWidthInteger>(_ value: T, at position: Int) {
            withUnsafeBytes(of: value.littleEndian) { for (index, byte) in $0.enumerated() { bytes[position + index] = byte } }
        }
        put(capacity, at: 0)
        put(Self.maximumSegments, at: 12)  // seg_max
        put(UInt32(Self.sectorSize), at: 20)  // blk_size
        put(UInt16(1), at: 34)  // num_queues
        if discards {
            put(Self.maximumDiscardSectors, at: 36)
            put(Self.maximumDiscardSegments, at: 40)
            put(UInt32(1), at: 44)  // discard_sector_alignment
            put(Self.maximumDiscardSectors, at: 48)
            put(Self.maximumDiscardSegments, at: 52)
            bytes[56] = 1  // write_zeroes_may_unmap
        }
        guard offset >= 0, offset + count <= bytes.count else { return [UInt8](repeating: 0, count: count) }
        return Array(bytes[offset ..< offset + count])
    }

    public func activate(_ context: VirtioDeviceContext) throws(VirtioDeviceError) {
        guard context.queues[0] != nil else { throw .queueNotEnabled(0) }
    }

    public func reset() {}

    // MARK: Requests

    /// Request types (`VIRTIO_BLK_T_*`).
    enum RequestType: UInt32 {
        case read = 0, write = 1, flush = 4, getID = 8, discard = 11, writeZeroes = 13
    }

    /// Status values (`VIRTIO_BLK_S_*`).
    enum Status: UInt8 { case ok = 0, ioError = 1, unsupported = 2 }

    public func queueNotified(_ index: Int, context: VirtioDeviceContext) {
        context.processQueue(index) { (chain) throws(VirtioDeviceError) -> UInt32 in
            try self.serve(chain, memory: context.memory)
        }
    }

    /// Serves one request; returns the bytes written into its writable buffers (data, then status).
    func serve(_ chain: DescriptorChain, memory: GuestMemory) throws(VirtioDeviceError) -> UInt32 {
        let writableLength = chain.writableLength
        guard writableLength >= 1 else { throw .malformedRequest("block request without a status byte") }
        var reader = chain.reader(in: memory)
        let header: [UInt8]
        do {
            guard let bytes = try reader.read(exactly: 16) else {
                throw VirtioDeviceError.malformedRequest("block request header shorter than 16 bytes")
            }
            header = bytes
        } catch let error as VirtioDeviceError {
            throw error
        } catch {
            throw .malformedRequest("block request header: \(error)")
        }
        let type = header.littleEndianValue(UInt32.self, at: 0)
        let sector = header.littleEndianValue(UInt64.self, at: 8)
        let dataIn = writableLength - 1
        var writer = chain.writer(in: memory)
        var status = Status.ok
        var written = 0
        do throws(BlockIOError) {
            switch RequestType(rawValue: type) {
            case .read:
                written = try read(sector: sector, count: dataIn, into: &writer, memory: memory)
            case .write:
                guard !attachment.isReadOnly else { throw .failed }
                try write(sector: sector, count: reader.remaining, from: &reader, memory: memory)
            case .flush:
                guard fdatasync(attachment.fileDescriptor) == 0 else { throw .failed }
            case .getID:
                var serial = Array(configuration.serial.utf8.prefix(20))
                serial += [UInt8](repeating: 0, count: max(0, min(20, dataIn) - serial.count))
                written = (try? writer.write(serial.prefix(dataIn))) ?? 0
            case .discard where discards, .writeZeroes where discards:
                try discardOrZero(zero: type == RequestType.writeZeroes.rawValue, from: &reader)
            default:
                status = .unsupported
            }
        } catch {
            status = .ioError
        }
        // The status byte is the last writable byte; skip whatever data area the request left unwritten.
        var statusWriter = chain.writer(in: memory)
        try? statusWriter.forEachPiece(upTo: dataIn) { _, _ in }
        do { try statusWriter.write([status.rawValue]) } catch { throw .malformedRequest("block status: \(error)") }
        return UInt32(written + 1)
    }

    /// Why an I/O request failed (reported to the guest as `VIRTIO_BLK_S_IOERR`).
    enum BlockIOError: Error { case failed }

    /// Checks that `count` bytes from `sector` are whole sectors inside the image; returns the byte offset.
    private func checkedRange(sector: UInt64, count: Int) throws(BlockIOError) -> UInt64 {
        guard count >= 0, UInt64(count) % Self.sectorSize == 0, sector <= capacity,
            UInt64(count) / Self.sectorSize <= capacity - sector
        else { throw .failed }
        return sector * Self.sectorSize
    }

    /// Walks one guest buffer of `length` bytes at `address` in pieces of at most `chunkSize`, handing
    /// `body` each piece's guest address, length and file offset (`position`, advanced as pieces succeed).
    /// Returns false as soon as `body` does.
    private static func forEachChunk(
        of length: Int, at address: GuestAddress, position: inout UInt64, _ body: (GuestAddress, Int, off_t) -> Bool
    ) -> Bool {
        var done = 0
        while done < length {
            let chunk = min(length - done, chunkSize)
            guard body(GuestAddress(address.rawValue + UInt64(done)), chunk, off_t(position)) else { return false }
            done += chunk
            position += UInt64(chunk)
        }
        return true
    }

    /// Reads `count` bytes from `sector` into the writable buffers; returns `count`.
    private func read(sector: UInt64, count: Int, into writer: inout VirtqueueWriter, memory: GuestMemory) throws(BlockIOError) -> Int {
        let start = try checkedRange(sector: sector, count: count)
        let fd = attachment.fileDescriptor
        var position = start
        var failed = false
        try? writer.forEachPiece(upTo: count) { (address, length) throws(GuestMemoryError) in
            guard !failed else { return }
            failed = !Self.forEachChunk(of: length, at: address, position: &position) { target, chunk, offset in
                Self.withAlignedBuffer(chunk) { buffer in
                    guard Self.transferAll(chunk, { unsafe pread(fd, buffer.baseAddress! + $0, chunk - $0, offset + off_t($0)) })
                    else { return false }
                    return (try? memory.write(UnsafeRawBufferPointer(buffer), at: target)) != nil
                }
            }
        }
        guard !failed else { throw .failed }
        return count
    }

    /// Writes the next `count` readable bytes at `sector`.
    private func write(sector: UInt64, count: Int, from reader: inout VirtqueueReader, memory: GuestMemory) throws(BlockIOError) {
        let start = try checkedRange(sector: sector, count: count)
        let fd = attachment.fileDescriptor
        var position = start
        var failed = false
        try? reader.forEachPiece(upTo: count) { (address, length) throws(GuestMemoryError) in
            guard !failed else { return }
            failed = !Self.forEachChunk(of: length, at: address, position: &position) { source, chunk, offset in
                Self.withAlignedBuffer(chunk) { buffer in
                    guard (try? memory.read(into: buffer, at: source)) != nil else { return false }
                    return Self.transferAll(chunk, { unsafe pwrite(fd, buffer.baseAddress! + $0, chunk - $0, offset + off_t($0)) })
                }
            }
        }
        guard !failed else { throw .failed }
    }

    /// Discards or zeroes each `virtio_blk_discard_write_zeroes` segment that follows the header.
    private func discardOrZero(zero: Bool, from reader: inout VirtqueueReader) throws(BlockIOError) {
        guard reader.remaining > 0, reader.remaining % 16 == 0,
            reader.remaining / 16 <= Int(Self.maximumDiscardSegments)
        else { throw .failed }
        while reader.remaining > 0 {
            guard let segment = try? reader.read(exactly: 16) else { throw .failed }
            let sector = segment.littleEndianValue(UInt64.self, at: 0)
            let sectors = segment.littleEndianValue(UInt32.self, at: 8)
            let flags = segment.littleEndianValue(UInt32.self, at: 12)
            // Only the unmap flag (bit 0) is defined, and only for write-zeroes.
            guard flags & ~1 == 0, zero || flags == 0, sectors <= Self.maximumDiscardSectors else { throw .failed }
            let offset = try checkedRange(sector: sector, count: Int(UInt64(sectors) * Self.sectorSize))
            let length = off_t(UInt64(sectors) * Self.sectorSize)
            guard length > 0 else { continue }
            let fd = attachment.fileDescriptor
            if !zero {
                // Discard is advisory: a file system that cannot punch holes just keeps the data.
                _ = cvirtio_fallocate(fd, cvirtio_FALLOC_FL_PUNCH_HOLE | cvirtio_FALLOC_FL_KEEP_SIZE, off_t(offset), length)
                continue
            }
            // Zeroing must happen: punch a hole (unmap allowed), else zero the range, else write zeroes.
            if flags & 1 != 0,
                cvirtio_fallocate(fd, cvirtio_FALLOC_FL_PUNCH_HOLE | cvirtio_FALLOC_FL_KEEP_SIZE, off_t(offset), length) == 0
            {
                continue
            }
            if cvirtio_fallocate(fd, cvirtio_FALLOC_FL_ZERO_RANGE | cvirtio_FALLOC_FL_KEEP_SIZE, off_t(offset), length) == 0 { continue }
            var done: off_t = 0
            while done < length {
                let chunk = Int(min(length - done, off_t(Self.chunkSize)))
                let at = off_t(offset) + done
                let ok = Self.withAlignedBuffer(chunk) { buffer in
                    unsafe buffer.initializeMemory(as: UInt8.self, repeating: 0)
                    return Self.transferAll(chunk, { unsafe pwrite(fd, buffer.baseAddress! + $0, chunk - $0, at + off_t($0)) })
                }
                guard ok else { throw .failed }
                done += off_t(chunk)
            }
        }
    }

    /// Calls `body` with a 4096-byte aligned scratch buffer of `count` bytes (aligned for O_DIRECT).
    private static func withAlignedBuffer(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Bool) -> Bool {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 4096)
        defer { buffer.deallocate() }
        // SAFETY: the buffer is freshly allocated, `count` bytes long, and freed only after `body` returns.
        return unsafe body(UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< count]))
    }

    /// Repeats `transfer(done)` (a pread/pwrite of the bytes from `done` on) until `count` bytes moved;
    /// false on an error or end of file.
    private static func transferAll(_ count: Int, _ transfer: (Int) -> Int) -> Bool {
        var done = 0
        while done < count {
            let moved = transfer(done)
            if moved < 0, errno == EINTR { continue }
            guard moved > 0 else { return false }
            done += moved
        }
        return true
    }
}

extension [UInt8] {
    /// The little-endian integer at `offset` (the caller checked the bounds).
    func littleEndianValue<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        var value: T = 0
        for index in 0 ..< MemoryLayout<T>.size { value |= T(truncatingIfNeeded: self[offset + index]) << (8 * index) }
        return value
    }
}
