// Kernel and initrd files, read with pread: headers are read into small arrays, and bulk data (the
// kernel's segments, the initrd) goes from the file straight into guest memory, with no copy of the
// whole file on the VMM's heap.

import Glibc
import KVM

/// Random access to an image's bytes.
protocol ImageSource {
    var size: Int { get }
    /// `count` bytes at `offset`, or nil past the end.
    func bytes(at offset: Int, count: Int) -> [UInt8]?
    /// Copies `count` bytes from `offset` to guest-physical `address`.
    func copy(from offset: Int, count: Int, to address: UInt64, in memory: GuestMemory) throws
}

struct ImageError: Error, CustomStringConvertible {
    var description: String
}

/// An image held in memory (tests, small images).
struct ArraySource: ImageSource {
    let data: [UInt8]
    init(_ data: [UInt8]) { self.data = data }
    var size: Int { data.count }
    func bytes(at offset: Int, count: Int) -> [UInt8]? { ByteReader(data).slice(at: offset, count: count) }
    func copy(from offset: Int, count: Int, to address: UInt64, in memory: GuestMemory) throws {
        guard offset >= 0, count >= 0, offset <= data.count - count else { throw ImageError(description: "read past the end of the image") }
        // Straight from the array (a decompressed kernel is tens of MiB: no intermediate copy).
        try data.withUnsafeBytes { bytes in
            // SAFETY: offset..<offset+count lies in `data` (checked above); the rebased buffer is only
            // read by GuestMemory.write during this closure, while the array is alive.
            try memory.write(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]), at: GuestAddress(address))
        }
    }
}

/// An image file, open for pread.
final class FileSource: ImageSource {
    let path: String
    let fd: Int32
    let size: Int

    init(path: String) throws(ImageError) {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ImageError(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw ImageError(description: "\(path) is not a regular file")
        }
        size = Int(info.st_size)
    }

    deinit { close(fd) }

    func bytes(at offset: Int, count: Int) -> [UInt8]? {
        guard offset >= 0, count >= 0, offset <= size - count else { return nil }
        var buffer = [UInt8](repeating: 0, count: count)
        let done = buffer.withUnsafeMutableBytes { readFully(into: $0, at: offset) }
        return done ? buffer : nil
    }

    func copy(from offset: Int, count: Int, to address: UInt64, in memory: GuestMemory) throws {
        guard offset >= 0, count >= 0, offset <= size - count else {
            throw ImageError(description: "\(path): range \(offset)+\(count) is past the end of the file")
        }
        // Straight into guest memory (one region holds the whole range: all low RAM is one slot).
        let done = try memory.withUnsafeMutableBytes(at: GuestAddress(address), count: count) { readFully(into: $0, at: offset) }
        guard done else { throw ImageError(description: "\(path): read failed: \(String(cString: strerror(errno)))") }
    }

    private func readFully(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Bool {
        var done = 0
        while done < buffer.count {
            let count = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return false }
            done += count
        }
        return true
    }
}
