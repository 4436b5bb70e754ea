// A newc ("070701") cpio archive built in memory: what Linux unpacks as an initramfs. A VMM appends one
// to a user's initrd (the kernel unpacks concatenated archives in order, later files replacing earlier
// ones) to hand the guest a file of its own: a command to run, a key, a configuration.

/// An initramfs archive in the kernel's "new ASCII" cpio format (`Documentation/driver-api/early-userspace/buffer-format.rst`).
///
/// ```swift
/// var archive = InitramfsArchive()
/// try archive.addDirectory("microvm")
/// try archive.addFile("microvm/run", contents: Array("exec /bin/busybox true\n".utf8), mode: 0o755)
/// let bytes = archive.bytes  // ends with the TRAILER!!! entry; a multiple of 4 bytes
/// ```
///
/// Every header and every file's data start on a 4-byte boundary, as the kernel's unpacker requires;
/// mtimes are 0 and owners root, so the same entries always give the same bytes.
public struct InitramfsArchive: Sendable, Equatable {
    /// What a path may not be: the kernel's unpacker takes names as they are, so the archive refuses the
    /// ones that would not mean what they say.
    public enum EntryError: Error, Equatable, Sendable, CustomStringConvertible {
        case invalidPath(String)
        case tooLarge(path: String, size: Int)

        public var description: String {
            switch self {
            case .invalidPath(let path):
                "initramfs entry '\(path)': a path must be non-empty, relative, without NUL bytes or '.'/'..' components"
            case .tooLarge(let path, let size): "initramfs entry '\(path)': \(size) bytes do not fit the format's 32-bit size field"
            }
        }
    }

    /// File type bits of `st_mode`.
    static let regularFile: UInt32 = 0o100000
    static let directory: UInt32 = 0o040000
    static let magic = Array("070701".utf8)
    static let trailerName = "TRAILER!!!"

    private var entries: [UInt8] = []
    private var nextInode: UInt32 = 1

    public init() {}

    /// Adds a directory (`mode` is its permission bits). Parents must be added first, as with `cpio`.
    public mutating func addDirectory(_ path: String, mode: UInt32 = 0o755) throws(EntryError) {
        try Self.validate(path)
        append(name: path, mode: Self.directory | (mode & 0o7777), links: 2, data: [])
    }

    /// Adds a regular file with `contents` (`mode` is its permission bits).
    public mutating func addFile(_ path: String, contents: [UInt8], mode: UInt32 = 0o644) throws(EntryError) {
        try Self.validate(path)
        guard contents.count <= Int(UInt32.max) else { throw .tooLarge(path: path, size: contents.count) }
        append(name: path, mode: Self.regularFile | (mode & 0o7777), links: 1, data: contents)
    }

    /// The archive: every entry, then the trailer.
    public var bytes: [UInt8] {
        var archive = self
        archive.append(name: Self.trailerName, mode: 0, links: 1, data: [], inode: 0)
        return archive.entries
    }

    private static func validate(_ path: String) throws(EntryError) {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, !path.hasPrefix("/"), !path.utf8.contains(0), path != trailerName,
            !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
        else { throw .invalidPath(path) }
    }

    private mutating func append(name: String, mode: UInt32, links: UInt32, data: [UInt8], inode: UInt32? = nil) {
        let nameBytes = Array(name.utf8) + [0]
        let fields: [UInt32] = [
            inode ?? nextInode, mode, 0, 0, links, 0, UInt32(data.count), 0, 0, 0, 0, UInt32(nameBytes.count), 0,
        ]
        if inode == nil { nextInode += 1 }
        entries += Self.magic
        for field in fields { entries += Self.hex8(field) }
        entries += nameBytes
        padToFour()
        entries += data
        padToFour()
    }

    private mutating func padToFour() {
        while entries.count % 4 != 0 { entries.append(0) }
    }

    /// `value` as 8 upper-case hex digits.
    static func hex8(_ value: UInt32) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        return (0..<8).reversed().map { digits[Int((value >> (UInt32($0) * 4)) & 0xF)] }
    }
}
