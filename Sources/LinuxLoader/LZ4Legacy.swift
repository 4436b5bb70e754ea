// The LZ4 "legacy" frame (what `lz4 -l` writes, and what a kernel built with CONFIG_KERNEL_LZ4 carries as
// its compressed payload): the magic 0x184C2102 (bytes 02 21 4C 18), then blocks, each a 4-byte
// little-endian compressed size and an LZ4 block that decompresses to at most 8 MiB on its own (no match
// reaches into an earlier block). Another magic may start a new frame; the kernel's build appends the
// decompressed size as 4 more bytes after the last block, which is checked when present.
//
// An LZ4 block is a run of sequences: a token (high nibble: literal count, low nibble: match length - 4;
// 15 means "more length bytes follow", each added, until one is below 255), the literals, then a 2-byte
// little-endian back offset and the match, copied from the output already produced (it may overlap
// what it writes: offset 1 repeats one byte). The last sequence has literals only.
//
// Input is untrusted: every length and offset is checked against the input and the output before any
// byte moves, and anything malformed throws `LZ4Legacy.Failure` saying where.

public enum LZ4Legacy {
    public static let magic: UInt32 = 0x184C_2102
    public static let magicBytes: [UInt8] = [0x02, 0x21, 0x4C, 0x18]
    /// The largest decompressed block of the legacy format.
    public static let maxBlockSize = 8 << 20

    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case badMagic
        case truncatedBlockHeader(offset: Int)
        case blockPastEnd(offset: Int, size: Int, remaining: Int)
        case emptyBlock(offset: Int)
        case literalsPastInput(offset: Int)
        case truncatedLength(offset: Int)
        case truncatedMatchOffset(offset: Int)
        case zeroMatchOffset(offset: Int)
        case matchBeforeBlockStart(offset: Int, distance: Int)
        case blockTooLarge(offset: Int)
        case outputLimit(Int)
        case sizeTrailerMismatch(declared: Int, actual: Int)

        public var description: String {
            let prefix = "LZ4 legacy stream: "
            switch self {
            case .badMagic: return prefix + "no magic 02 21 4C 18 at the start"
            case .truncatedBlockHeader(let offset): return prefix + "block header at byte \(offset) is cut off"
            case .blockPastEnd(let offset, let size, let remaining):
                return prefix + "block at byte \(offset) claims \(size) bytes, only \(remaining) follow"
            case .emptyBlock(let offset): return prefix + "empty block at byte \(offset)"
            case .literalsPastInput(let offset): return prefix + "literals of the sequence at byte \(offset) run past the block"
            case .truncatedLength(let offset): return prefix + "a length of the sequence at byte \(offset) is cut off"
            case .truncatedMatchOffset(let offset): return prefix + "match offset at byte \(offset) is cut off"
            case .zeroMatchOffset(let offset): return prefix + "match offset 0 at byte \(offset)"
            case .matchBeforeBlockStart(let offset, let distance):
                return prefix + "match at byte \(offset) reaches \(distance) bytes back, before the start of its block"
            case .blockTooLarge(let offset):
                return prefix + "block at byte \(offset) decompresses to more than \(LZ4Legacy.maxBlockSize) bytes"
            case .outputLimit(let limit): return prefix + "decompresses to more than \(limit) bytes"
            case .sizeTrailerMismatch(let declared, let actual):
                return prefix + "the size appended after the last block says \(declared) bytes, the blocks gave \(actual)"
            }
        }
    }

    public static func isLZ4Legacy(_ data: [UInt8]) -> Bool { data.starts(with: magicBytes) }

    /// Decompresses a whole legacy stream; throws rather than produce more than `limit` bytes.
    public static func decompress(_ input: [UInt8], limit: Int = Int.max) throws(Failure) -> [UInt8] {
        guard isLZ4Legacy(input) else { throw .badMagic }
        var output: [UInt8] = []
        // A kernel's stream ends with its decompressed size: reserve that much when it is plausible (LZ4
        // expands at most 255-fold), so the output is not copied as it grows.
        let count = input.count
        let declared = Int(input[count - 4]) | Int(input[count - 3]) << 8 | Int(input[count - 2]) << 16 | Int(input[count - 1]) << 24
        if declared <= limit, declared / 255 <= count { output.reserveCapacity(declared) }
        // Each block is decoded into one scratch buffer (uninitialized: the decoder reads only bytes it
        // has written), then appended: no 8 MiB zero-fill per block.
        // SAFETY: allocated here, freed by the defer on every exit (return or throw), never escapes.
        let scratch = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, min(maxBlockSize, limit)))
        defer { scratch.deallocate() }
        var cursor = 4
        while cursor < input.count {
            let remaining = input.count - cursor
            guard remaining >= 4 else { throw .truncatedBlockHeader(offset: cursor) }
            let word = UInt32(input[cursor]) | UInt32(input[cursor + 1]) << 8 | UInt32(input[cursor + 2]) << 16
                | UInt32(input[cursor + 3]) << 24
            if word == magic {  // a concatenated frame
                cursor += 4
                continue
            }
            let size = Int(word)
            if remaining == 4 {
                // Nothing can follow a block header that ends the input: this is the appended size.
                guard size == output.count else { throw .sizeTrailerMismatch(declared: size, actual: output.count) }
                break
            }
            guard size <= remaining - 4 else { throw .blockPastEnd(offset: cursor, size: size, remaining: remaining - 4) }
            guard size > 0 else { throw .emptyBlock(offset: cursor) }
            let blockStart = cursor + 4
            let room = min(maxBlockSize, limit - output.count)
            let produced = try input.withUnsafeBufferPointer { (bytes) throws(Failure) -> Int in
                // SAFETY: `bytes` is the whole input, alive for this closure; blockStart..<blockStart+size
                // was checked above to lie in it. `scratch` holds at least `room` bytes (room <= its
                // capacity) and is only written by decodeBlock before it is read.
                try decodeBlock(
                    UnsafeBufferPointer(rebasing: bytes[blockStart..<(blockStart + size)]),
                    into: UnsafeMutableBufferPointer(rebasing: scratch[0..<room]),
                    blockOffset: blockStart, hitLimit: room < maxBlockSize ? limit : nil)
            }
            // SAFETY: decodeBlock wrote scratch[0..<produced] (produced <= room).
            output.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[0..<produced]))
            cursor = blockStart + size
        }
        return output
    }

    /// Decodes one block from `input` into `output`, returning the bytes written. Offsets in errors are
    /// relative to the stream (`blockOffset` is where the block starts). `hitLimit` is the caller's
    /// output limit when it, not the 8 MiB block size, bounds `output`.
    static func decodeBlock(
        _ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>, blockOffset: Int,
        hitLimit: Int?
    ) throws(Failure) -> Int {
        // Every subscript of `input` and `output` below follows a check against inEnd or outEnd.
        let tooMuch: Failure = hitLimit.map { .outputLimit($0) } ?? .blockTooLarge(offset: blockOffset)
        var inPosition = 0
        var outPosition = 0
        let inEnd = input.count
        let outEnd = output.count
        guard let source = input.baseAddress, let destination = output.baseAddress else {
            throw inEnd == 0 ? .emptyBlock(offset: blockOffset) : tooMuch
        }
        /// Reads the rest of a length whose nibble was 15.
        func extendedLength(_ base: Int, sequence: Int) throws(Failure) -> Int {
            var length = base
            while true {
                guard inPosition < inEnd else { throw .truncatedLength(offset: blockOffset + sequence) }
                let byte = Int(input[inPosition])
                inPosition += 1
                length += byte
                // More than the largest block can hold is malformed; stop before the sum can overflow.
                guard length <= LZ4Legacy.maxBlockSize else { throw tooMuch }
                if byte != 255 { return length }
            }
        }
        while inPosition < inEnd {
            let sequence = inPosition
            let token = Int(input[inPosition])
            inPosition += 1
            var literals = token >> 4
            if literals == 15 { literals = try extendedLength(15, sequence: sequence) }
            guard literals <= inEnd - inPosition else { throw .literalsPastInput(offset: blockOffset + sequence) }
            guard literals <= outEnd - outPosition else { throw tooMuch }
            // SAFETY: source[inPosition..<inPosition+literals] is inside the input and
            // destination[outPosition..<outPosition+literals] inside the output (both checked just above);
            // they are different arrays, so the ranges do not overlap.
            (destination + outPosition).update(from: source + inPosition, count: literals)
            inPosition += literals
            outPosition += literals
            if inPosition == inEnd { break }  // the last sequence: literals only

            guard inEnd - inPosition >= 2 else { throw .truncatedMatchOffset(offset: blockOffset + inPosition) }
            let distance = Int(input[inPosition]) | Int(input[inPosition + 1]) << 8
            guard distance != 0 else { throw .zeroMatchOffset(offset: blockOffset + inPosition) }
            guard distance <= outPosition else {
                throw .matchBeforeBlockStart(offset: blockOffset + inPosition, distance: distance)
            }
            inPosition += 2
            var length = token & 15
            if length == 15 { length = try extendedLength(15, sequence: sequence) }
            length += 4
            guard length <= outEnd - outPosition else { throw tooMuch }
            let from = outPosition - distance
            if distance >= length {
                // SAFETY: from..<from+length ends at or before outPosition (distance >= length), and
                // outPosition..<outPosition+length is inside the output (checked): disjoint, in bounds.
                (destination + outPosition).update(from: destination + from, count: length)
            } else {
                // Overlapping: the match repeats the last `distance` bytes; copy forward byte by byte.
                // SAFETY: from + index < outPosition + index < outPosition + length <= outEnd (checked).
                for index in 0..<length { output[outPosition + index] = output[from + index] }
            }
            outPosition += length
        }
        return outPosition
    }
}
