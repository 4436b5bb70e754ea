import Glibc
import SystemPackage

extension GuestMemory {
    /// Reads `count` bytes of `file`, from byte `offset` on, straight into guest memory at
    /// `address`: a `pread` loop into the mappings, with no copy on the VMM's heap (a kernel, an
    /// initrd, a disk image's first sectors).
    ///
    /// The whole guest range is validated first, and for a regular file its size too, so bad
    /// input fails having written nothing. The range may cross contiguous regions, like
    /// ``write(bytes:at:)``.
    ///
    /// ```swift
    /// let kernel = try FileDescriptor.open("vmlinux", .readOnly)
    /// try vm.memory.write(contentsOf: kernel, offset: segment.fileOffset, count: segment.size,
    ///                     at: GuestAddress(segment.physicalAddress))
    /// ```
    ///
    /// - Parameters:
    ///   - file: An open descriptor that supports `pread` (a regular file or block device). The
    ///     caller keeps it; its file position is not used or moved.
    ///   - offset: The first byte of the file to read.
    ///   - count: The number of bytes to copy.
    ///   - address: The guest-physical address of the first byte to write.
    /// - Throws: ``KVMRuntimeError/guestMemory(_:)`` if any byte of the guest range is not backed,
    ///   ``KVMRuntimeError/invalidArgument(operation:reason:)`` for a negative offset or an offset
    ///   + count beyond `Int64.max`, ``KVMRuntimeError/fileTooShort(size:needed:)`` if the file
    ///   ends before `offset + count` (checked before copying for regular files; for other files,
    ///   or one that shrinks meanwhile, the bytes before its end have been copied), and
    ///   ``KVMRuntimeError/system(_:)`` naming `fstat` or `pread`.
    public func write(contentsOf file: FileDescriptor, offset: Int64 = 0, count: Int, at address: GuestAddress)
        throws(KVMRuntimeError)
    {
        guard offset >= 0 else {
            throw .invalidArgument(operation: "GuestMemory.write(contentsOf:)", reason: "negative file offset \(offset)")
        }
        let first: Int?
        do {
            first = try validateRange(at: address, length: count)
        } catch {
            throw .guestMemory(error)
        }
        let (end, overflow) = offset.addingReportingOverflow(Int64(count))
        guard !overflow else {
            throw .invalidArgument(operation: "GuestMemory.write(contentsOf:)", reason: "offset \(offset) + count \(count) overflows")
        }
        guard let first else { return }
        var status = stat()
        // SAFETY: fstat writes into a local stat record.
        guard unsafe fstat(file.rawValue, &status) == 0 else {
            throw .system(KVMError.fromCurrentErrno(operation: "fstat"))
        }
        if status.st_mode & S_IFMT == S_IFREG, Int64(status.st_size) < end {
            throw .fileTooShort(size: Int64(status.st_size), needed: end)
        }
        var failure: KVMRuntimeError?
        // SAFETY: forEachPiece yields pieces of live mappings that together are exactly the
        // validated range; each pread writes at most the piece's remaining bytes into it.
        unsafe forEachPiece(startingIn: first, at: address, length: count) { host, rangeOffset, pieceCount in
            var done = 0
            while failure == nil, done < pieceCount {
                let position = offset + Int64(rangeOffset + done)
                // SAFETY: host + done ..< host + pieceCount lies inside the piece (done < pieceCount).
                let result = unsafe pread(file.rawValue, host + done, pieceCount - done, off_t(position))
                if result < 0 {
                    let error = KVMError.fromCurrentErrno(operation: "pread")
                    if error.errno == .interrupted { continue }
                    failure = .system(error)
                } else if result == 0 {
                    failure = .fileTooShort(size: position, needed: end)
                } else {
                    done += result
                }
            }
        }
        if let failure { throw failure }
    }
}
