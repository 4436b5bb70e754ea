import Glibc
import VirtioMMIO
import SystemPackage

/// Thin helpers over Unix-domain stream sockets for the vsock backend. Every descriptor returned is
/// close-on-exec and non-blocking, and owned by the caller.
enum UnixSocket {
    /// Calls `body` with a `sockaddr_un` for `path`, or throws if the path does not fit.
    private static func withAddress<R>(
        _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R
    ) throws(VirtioDeviceError) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { throw .system(operation: "socket path \(path)", errno: Errno(rawValue: ENAMETOOLONG)) }
        // SAFETY: sun_path is a fixed-size C array inside `address`; at most capacity - 1 bytes are copied and
        // the rest stays zero (NUL-terminated).
        unsafe withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        // SAFETY: `address` lives for the call; sockaddr_un starts with the sockaddr header.
        return unsafe withUnsafePointer(to: &address) { pointer in
            unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { unsafe body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    private static func makeSocket() throws(VirtioDeviceError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system(operation: "socket(AF_UNIX)", errno: Errno(rawValue: errno)) }
        return fd
    }

    /// Makes `fd` non-blocking.
    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    /// Connects to the listening socket at `path` (a local connect completes or fails at once).
    static func connect(to path: String) throws(VirtioDeviceError) -> Int32 {
        let fd = try makeSocket()
        let result = try withAddress(path) { address, length in Glibc.connect(fd, address, length) }
        guard result == 0 else {
            let error = errno
            close(fd)
            throw .system(operation: "connect(\(path))", errno: Errno(rawValue: error))
        }
        setNonBlocking(fd)
        return fd
    }

    /// Listens at `path`, replacing a stale socket file left there (but nothing else).
    static func listen(at path: String) throws(VirtioDeviceError) -> Int32 {
        var status = stat()
        if stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
        let fd = try makeSocket()
        let result = try withAddress(path) { address, length in bind(fd, address, length) }
        guard result == 0, Glibc.listen(fd, 64) == 0 else {
            let error = errno
            close(fd)
            throw .system(operation: "bind/listen(\(path))", errno: Errno(rawValue: error))
        }
        setNonBlocking(fd)
        return fd
    }

    /// Accepts a pending connection, or returns nil when there is none.
    static func accept(_ listener: Int32) -> Int32? {
        // Null address and length pointers ask accept(2) not to report the peer's address.
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        setNonBlocking(fd)
        return fd
    }
}
