// Kernel and initrd images: random access to their bytes. Headers are read into small arrays; bulk data
// (the kernel's segments, the initrd) goes from the image straight into guest memory, with no copy of the
// whole file on the VMM's heap when it is a file.

import Glibc
import KVM

/// Random access to the bytes of a kernel or initrd image.
///
/// The loader reads headers with ``bytes(at:count:)`` and copies bulk data with
/// ``copy(from:count:to:in:)`` after checking the destination lies in guest RAM. ``ImageBytes`` holds an
/// image in memory; ``ImageFile`` reads a file with `pread`. Conform your own type to load from
/// elsewhere (a network block, a memory-mapped file).
public protocol ImageSource {
    /// The image's size in bytes.
    var size: Int { get }
    /// `count` bytes at `offset`, or `nil` if any of them lies past the end (or cannot be read).
    func bytes(at offset: Int, count: Int) -> [UInt8]?
    /// Copies `count` bytes from `offset` of the image to guest-physical `address`.
    func copy(from offset: Int, count: Int, to address: GuestAddress, in memory: GuestMemory) throws(ImageError)
}

/// Why an image could not be read or copied.
public enum ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `open` failed.
    case cannotOpen(path: String, errno: Int32)
    /// The path names a directory, a device or another non-regular file.
    case notARegularFile(path: String)
    /// `count` bytes at `offset` do not lie in the `size`-byte image.
    case outOfRange(offset: Int, count: Int, size: Int)
    /// `pread` failed or the file shrank.
    case readFailed(path: String, errno: Int32)
    /// The destination is not (wholly) in guest memory.
    case guestMemory(GuestMemoryError)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let code): return "cannot open \(path): \(String(cString: strerror(code)))"
        case .notARegularFile(let path): return "\(path) is not a regular file"
        case .outOfRange(let offset, let count, let size):
            return "\(count) bytes at offset \(offset) lie past the end of the \(size)-byte image"
        case .readFailed(let path, let code):
            return "\(path): read failed: " + (code == 0 ? "the file ended early" : String(cString: strerror(code)))
        case .guestMemory(let error): return "\(error)"
        }
    }
}

/// An image held in memory (a decompressed kernel, a test image).
public struct ImageBytes: ImageSource, Sendable {
    /// The image.
    public let data: [UInt8]

    /// An image of `data`.
    public init(_ data: [UInt8]) { self.data = data }

    public var size: Int { data.count }

    public func bytes(at offset: Int, count: Int) -> [UInt8]? { LittleEndianReader(data).slice(at: offset, count: count) }

    public func copy(from offset: Int, count: Int, to address: GuestAddress, in memory: GuestMemory) throws(ImageError) {
        guard offset >= 0, count >= 0, offset <= data.count - count else {
            throw .outOfRange(offset: offset, count: count, size: data.count)
        }
        // Straight from the array (a decompressed kernel is tens of MiB: no intermediate copy).
        let result = data.withUnsafeBytes { bytes -> GuestMemoryError? in
            // SAFETY: offset..<offset+count lies in `data` (checked above); the rebased buffer is only
            // read by GuestMemory.write during this closure, while the array is alive.
            do {
                try memory.write(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]), at: address)
                return nil
            } catch {
                return error as? GuestMemoryError ?? .addressNotMapped(address)
            }
        }
        if let result { throw .guestMemory(result) }
    }
}

/// An image file, open for `pread` until the object is released.
public final class ImageFile: ImageSource {
    /// The path it was opened with.
    public let path: String
    /// The file's size when it was opened.
    public let size: Int
    private let fd: Int32

    /// Opens the regular file at `path`.
    public init(path: String) throws(ImageError) {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw .notARegularFile(path: path)
        }
        size = Int(info.st_size)
    }

    deinit { close(fd) }

    public func bytes(at offset: Int, count: Int) -> [UInt8]? {
        guard offset >= 0, count >= 0, offset <= size - count else { return nil }
        var buffer = [UInt8](repeating: 0, count: count)
        let done = buffer.withUnsafeMutableBytes { readFully(into: $0, at: offset) }
        return done ? buffer : nil
    }

    public func copy(from offset: Int, count: Int, to address: GuestAddress, in memory: GuestMemory) throws(ImageError) {
        guard offset >= 0, count >= 0, offset <= size - count else { throw .outOfRange(offset: offset, count: count, size: size) }
        // Straight into guest memory (one region must hold the whole range).
        let done: Bool
        do {
            done = try memory.withUnsafeMutableBytes(at: address, count: count) { readFully(into: $0, at: offset) }
        } catch let error as GuestMemoryError {
            throw .guestMemory(error)
        } catch {
            throw .readFailed(path: path, errno: EIO)  // not reached: the body does not throw
        }
        guard done else { throw .readFailed(path: path, errno: errno) }
    }

    private func readFully(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Bool {
        guard let base = buffer.baseAddress else { return true }
        var done = 0
        errno = 0
        while done < buffer.count {
            // SAFETY: base + done ..< base + buffer.count lies in `buffer`, which the caller keeps alive.
            let count = pread(fd, base + done, buffer.count - done, off_t(offset + done))
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return false }
            done += count
        }
        return true
    }
}
