import CVirtioShims
import Glibc
import VirtioMMIO
import SystemPackage

/// What backs a block device: an open raw disk image (every byte of the file is a byte of the disk).
///
/// The attachment owns the file descriptor and closes it when released. Open it once, before the guest
/// starts; the device reads and writes it with `pread`/`pwrite` on its worker thread.
public final class DiskImageAttachment: Sendable {
    /// The file descriptor (owned: do not close it).
    public let fileDescriptor: Int32
    /// The image's size in bytes when it was opened (the guest sees `size / 512` sectors).
    public let size: UInt64
    /// Whether the guest may only read (the device then offers `VIRTIO_BLK_F_RO` and fails writes).
    public let isReadOnly: Bool
    /// Whether the file was opened with `O_DIRECT` (no host page cache; I/O through aligned buffers).
    public let usesDirectIO: Bool
    /// The path the image was opened from.
    public let path: String

    /// Opens the raw image at `path`.
    ///
    /// - Parameters:
    ///   - path: The image file.
    ///   - readOnly: Open read-only and present the disk as read-only.
    ///   - directIO: Open with `O_DIRECT`, bypassing the host's page cache. The host file system must
    ///     support it (tmpfs does not) and accept 512-byte aligned I/O.
    /// - Throws: `VirtioDeviceError/system(operation:errno:)` naming `open` or `fstat`.
    public init(path: String, readOnly: Bool = false, directIO: Bool = false) throws(VirtioDeviceError) {
        var flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC
        if directIO { flags |= cvirtio_O_DIRECT }
        let descriptor = open(path, flags)
        guard descriptor >= 0 else { throw .system(operation: "open(\(path))", errno: Errno(rawValue: errno)) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let error = errno
            close(descriptor)
            throw .system(operation: "fstat(\(path))", errno: Errno(rawValue: error))
        }
        self.fileDescriptor = descriptor
        self.size = UInt64(max(status.st_size, 0))
        self.isReadOnly = readOnly
        self.usesDirectIO = directIO
        self.path = path
    }

    deinit { close(fileDescriptor) }
}
