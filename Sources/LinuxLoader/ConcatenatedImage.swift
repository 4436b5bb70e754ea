// Several images presented as one, each starting on a 4-byte boundary: an initrd with an archive of the
// VMM's own appended (Linux unpacks concatenated initramfs archives in turn and skips the zero padding
// between them).

import KVM

/// Images one after another, each padded with zeros to a multiple of `alignment` bytes, as one
/// ``ImageSource``. The parts are read where they are (a file stays a file: nothing is copied until
/// the loader copies it into guest memory).
public struct ConcatenatedImage: ImageSource {
    public let parts: [any ImageSource]
    public let alignment: Int
    /// Where each part starts.
    public let offsets: [Int]
    public let size: Int

    /// - Parameters:
    ///   - parts: The images, in order (for an initrd: the base archive, then the archives appended to it).
    ///   - alignment: Where each part after the first starts: a multiple of this power of two (zero
    ///     bytes pad the gap); 4 for initramfs archives.
    public init(_ parts: [any ImageSource], alignment: Int = 4) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
        self.parts = parts
        self.alignment = alignment
        var offsets: [Int] = []
        var end = 0
        for part in parts {
            offsets.append(end)
            end = (end + part.size + alignment - 1) & ~(alignment - 1)
        }
        self.offsets = offsets
        size = end
    }

    /// The pieces of `offset..<offset+count`: (part index or nil for padding, offset in it, count).
    private func pieces(offset: Int, count: Int) -> [(part: Int?, offset: Int, count: Int)]? {
        guard offset >= 0, count >= 0, offset <= size - count else { return nil }
        var result: [(part: Int?, offset: Int, count: Int)] = []
        var position = offset
        let end = offset + count
        for (index, part) in parts.enumerated() where position < end {
            let start = offsets[index]
            let next = index + 1 < offsets.count ? offsets[index + 1] : size
            guard position < next else { continue }
            let dataEnd = start + part.size
            if position < dataEnd {
                let length = min(end, dataEnd) - position
                result.append((index, position - start, length))
                position += length
            }
            if position < end && position < next {
                let length = min(end, next) - position
                result.append((nil, 0, length))
                position += length
            }
        }
        return result
    }

    public func bytes(at offset: Int, count: Int) -> [UInt8]? {
        guard let pieces = pieces(offset: offset, count: count) else { return nil }
        var result: [UInt8] = []
        result.reserveCapacity(count)
        for piece in pieces {
            if let part = piece.part {
                guard let bytes = parts[part].bytes(at: piece.offset, count: piece.count) else { return nil }
                result += bytes
            } else {
                result += repeatElement(0, count: piece.count)
            }
        }
        return result
    }

    public func copy(from offset: Int, count: Int, to address: GuestAddress, in memory: GuestMemory) throws(ImageError) {
        guard let pieces = pieces(offset: offset, count: count) else { throw .outOfRange(offset: offset, count: count, size: size) }
        var destination = address.rawValue
        for piece in pieces {
            if let part = piece.part {
                try parts[part].copy(from: piece.offset, count: piece.count, to: GuestAddress(destination), in: memory)
            } else {
                do throws(GuestMemoryError) {
                    try memory.write(bytes: [UInt8](repeating: 0, count: piece.count), at: GuestAddress(destination))
                } catch {
                    throw .guestMemory(error)
                }
            }
            destination += UInt64(piece.count)
        }
    }
}
