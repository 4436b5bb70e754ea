// gzip (RFC 1952) around DEFLATE (RFC 1951): what a kernel built with CONFIG_KERNEL_GZIP (the kernel's
// default) carries as its payload. The member header (magic 1F 8B, method 8, optional extra field, name,
// comment and header CRC), then DEFLATE blocks: stored, fixed Huffman or dynamic Huffman, each symbol a
// literal byte, the end of the block, or a length with a distance back into the output; then the CRC-32
// and the length (mod 2^32) of the data, both checked.
//
// Huffman codes are canonical: a code is given by its lengths alone. Decoding looks codes of up to
// `fastBits` bits up in a table indexed by the next input bits; longer codes are decoded a bit at a time
// by counting codes per length. Input is untrusted: every read is bounds-checked, and malformed data throws
// `Inflate.Failure`, never traps.

public enum Inflate {
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case notGzip
        case unsupportedMethod(UInt8)
        case truncated
        case badBlockType
        case storedLengthMismatch
        case badCodeLengths
        case badSymbol
        case distanceTooFar(distance: Int, available: Int)
        case outputLimit(Int)
        case checksumMismatch(expected: UInt32, actual: UInt32)
        case sizeMismatch(expected: UInt32, actual: UInt32)

        public var description: String {
            let prefix = "gzip stream: "
            switch self {
            case .notGzip: return prefix + "no magic 1F 8B at the start"
            case .unsupportedMethod(let method): return prefix + "compression method \(method), not 8 (deflate)"
            case .truncated: return prefix + "cut off"
            case .badBlockType: return prefix + "a block of the reserved type 3"
            case .storedLengthMismatch: return prefix + "a stored block whose length and its complement disagree"
            case .badCodeLengths: return prefix + "a Huffman code that cannot exist (over-subscribed, or lengths that run over)"
            case .badSymbol: return prefix + "a code no symbol has, or a length or distance symbol out of range"
            case .distanceTooFar(let distance, let available):
                return prefix + "a match \(distance) bytes back with only \(available) bytes produced"
            case .outputLimit(let limit): return prefix + "decompresses to more than \(limit) bytes"
            case .checksumMismatch(let expected, let actual):
                return prefix + "CRC-32 \(hex(actual, digits: 8)) of the data, the trailer says \(hex(expected, digits: 8))"
            case .sizeMismatch(let expected, let actual):
                return prefix + "\(actual) bytes (mod 2^32) decompressed, the trailer says \(expected)"
            }
        }
    }

    public static let magic: [UInt8] = [0x1F, 0x8B]

    /// Decompresses the first gzip member of `data` and checks its trailer.
    public static func gunzip(_ data: [UInt8], limit: Int = Int.max) throws(Failure) -> [UInt8] {
        guard data.starts(with: magic) else { throw .notGzip }
        guard data.count >= 10 else { throw .truncated }
        guard data[2] == 8 else { throw .unsupportedMethod(data[2]) }
        let flags = data[3]
        var cursor = 10
        if flags & 0x04 != 0 {  // FEXTRA: a length, then that many bytes
            guard cursor + 2 <= data.count else { throw .truncated }
            cursor += 2 + (Int(data[cursor]) | Int(data[cursor + 1]) << 8)
        }
        for flag: UInt8 in [0x08, 0x10] where flags & flag != 0 {  // FNAME, FCOMMENT: zero-terminated
            while cursor < data.count, data[cursor] != 0 { cursor += 1 }
            cursor += 1
        }
        if flags & 0x02 != 0 { cursor += 2 }  // FHCRC
        guard cursor <= data.count else { throw .truncated }
        // The trailer's size is a good capacity hint when it is plausible (DEFLATE expands at most ~1032-fold).
        var capacity = 0
        if data.count >= cursor + 8 {
            let size = Int(readLE32(data, data.count - 4))
            if size <= limit, size / 1032 <= data.count { capacity = size }
        }
        var reader = BitReader(data, at: cursor)
        let output = try inflate(&reader, limit: limit, capacity: capacity)
        let trailer = reader.byteAlignedPosition
        guard trailer + 8 <= data.count else { throw .truncated }
        let expectedCRC = readLE32(data, trailer), expectedSize = readLE32(data, trailer + 4)
        let crc = crc32(output)
        guard crc == expectedCRC else { throw .checksumMismatch(expected: expectedCRC, actual: crc) }
        let size = UInt32(truncatingIfNeeded: output.count)
        guard size == expectedSize else { throw .sizeMismatch(expected: expectedSize, actual: size) }
        return output
    }

    private static func readLE32(_ data: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(data[offset]) | UInt32(data[offset + 1]) << 8 | UInt32(data[offset + 2]) << 16 | UInt32(data[offset + 3]) << 24
    }

    /// Decodes DEFLATE blocks from `reader` until the final one.
    static func inflate(_ reader: inout BitReader, limit: Int = Int.max, capacity: Int = 0) throws(Failure) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(capacity)
        var final = false
        while !final {
            final = try reader.bits(1) == 1
            switch try reader.bits(2) {
            case 0:
                reader.alignToByte()
                let length = try reader.bits(16), complement = try reader.bits(16)
                guard length == ~complement & 0xFFFF else { throw .storedLengthMismatch }
                guard length <= limit - output.count else { throw .outputLimit(limit) }
                try reader.copyBytes(Int(length), to: &output)
            case 1:
                try inflateBlock(&reader, literals: fixedLiterals, distances: fixedDistances, into: &output, limit: limit)
            case 2:
                let (literals, distances) = try dynamicCodes(&reader)
                try inflateBlock(&reader, literals: literals, distances: distances, into: &output, limit: limit)
            default:
                throw .badBlockType
            }
        }
        return output
    }

    static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
                                      4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    /// The order in which a dynamic block gives the code-length code's lengths.
    static let codeLengthOrder: [Int] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// The fixed codes of block type 1 (RFC 1951 3.2.6). Built from constant lengths: cannot fail.
    static let fixedLiterals = (try? HuffmanCode(lengths: (0..<288).map { $0 < 144 ? 8 : $0 < 256 ? 9 : $0 < 280 ? 7 : 8 }))
        ?? HuffmanCode.empty
    static let fixedDistances = (try? HuffmanCode(lengths: [Int](repeating: 5, count: 30))) ?? HuffmanCode.empty

    /// Reads a dynamic block's code definitions.
    static func dynamicCodes(_ reader: inout BitReader) throws(Failure) -> (HuffmanCode, HuffmanCode) {
        let literalCount = Int(try reader.bits(5)) + 257
        let distanceCount = Int(try reader.bits(5)) + 1
        let lengthCodeCount = Int(try reader.bits(4)) + 4
        guard literalCount <= 286, distanceCount <= 30 else { throw .badCodeLengths }
        var lengthCodeLengths = [Int](repeating: 0, count: 19)
        for index in 0..<lengthCodeCount { lengthCodeLengths[codeLengthOrder[index]] = Int(try reader.bits(3)) }
        let lengthCode = try HuffmanCode(lengths: lengthCodeLengths)
        var lengths: [Int] = []
        let total = literalCount + distanceCount
        while lengths.count < total {
            let symbol = try lengthCode.decode(&reader)
            var repeated = 0, count = 0
            switch symbol {
            case 0...15:
                lengths.append(symbol)
                continue
            case 16:
                guard let previous = lengths.last else { throw .badCodeLengths }
                repeated = previous
                count = 3 + Int(try reader.bits(2))
            case 17: count = 3 + Int(try reader.bits(3))
            case 18: count = 11 + Int(try reader.bits(7))
            default: throw .badSymbol
            }
            guard lengths.count + count <= total else { throw .badCodeLengths }
            lengths += repeatElement(repeated, count: count)
        }
        guard lengths[256] > 0 else { throw .badCodeLengths }  // no end-of-block code: the block could never end
        return (try HuffmanCode(lengths: Array(lengths[0..<literalCount])), try HuffmanCode(lengths: Array(lengths[literalCount...])))
    }

    /// Decodes one Huffman block's symbols until its end-of-block symbol.
    static func inflateBlock(
        _ reader: inout BitReader, literals: HuffmanCode, distances: HuffmanCode, into output: inout [UInt8], limit: Int
    ) throws(Failure) {
        while true {
            let symbol = try literals.decode(&reader)
            if symbol < 256 {
                guard output.count < limit else { throw .outputLimit(limit) }
                output.append(UInt8(symbol))
                continue
            }
            if symbol == 256 { return }
            let lengthIndex = symbol - 257
            guard lengthIndex < lengthBase.count else { throw .badSymbol }
            let length = lengthBase[lengthIndex] + Int(try reader.bits(lengthExtra[lengthIndex]))
            let distanceSymbol = try distances.decode(&reader)
            guard distanceSymbol < distanceBase.count else { throw .badSymbol }
            let distance = distanceBase[distanceSymbol] + Int(try reader.bits(distanceExtra[distanceSymbol]))
            guard distance <= output.count else { throw .distanceTooFar(distance: distance, available: output.count) }
            guard length <= limit - output.count else { throw .outputLimit(limit) }
            let from = output.count - distance
            // Forward, byte by byte: a match may overlap what it writes (distance < length repeats).
            for index in 0..<length { output.append(output[from + index]) }
        }
    }

    /// CRC-32 (IEEE 802.3, reflected, as gzip uses it).
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return ~crc
    }

    static let crcTable: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 != 0 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }
}

/// DEFLATE's bit order: bits are taken from the least significant end of each byte, in byte order.
struct BitReader {
    let data: [UInt8]
    private var position: Int
    private var buffer: UInt64 = 0
    private var count = 0

    init(_ data: [UInt8], at position: Int) {
        self.data = data
        self.position = position
    }

    /// Tops the buffer up to at least `needed` bits (at most 57); false when the input ends first.
    @inline(__always)
    private mutating func fill(_ needed: Int) -> Bool {
        while count < needed {
            guard position < data.count else { return false }
            buffer |= UInt64(data[position]) << UInt64(count)
            position += 1
            count += 8
        }
        return true
    }

    /// The next `n` (0...32) bits as a number, first bit least significant.
    @inline(__always)
    mutating func bits(_ n: Int) throws(Inflate.Failure) -> UInt32 {
        guard fill(n) else { throw .truncated }
        let value = UInt32(truncatingIfNeeded: buffer & ((1 << UInt64(n)) - 1))
        buffer >>= UInt64(n)
        count -= n
        return value
    }

    /// Up to `n` bits without consuming them, and how many there were (fewer only at the end of input).
    @inline(__always)
    mutating func peek(_ n: Int) -> (value: Int, available: Int) {
        _ = fill(n)
        return (Int(truncatingIfNeeded: buffer & ((1 << UInt64(n)) - 1)), min(count, n))
    }

    @inline(__always)
    mutating func skip(_ n: Int) {
        buffer >>= UInt64(n)
        count -= n
    }

    /// Drops the bits left in the current byte (before a stored block's lengths).
    mutating func alignToByte() { skip(count % 8) }

    /// Where the next whole byte starts (after the last block: the gzip trailer).
    var byteAlignedPosition: Int { position - count / 8 }

    /// Copies `n` whole bytes (the reader is byte-aligned) to `output`.
    mutating func copyBytes(_ n: Int, to output: inout [UInt8]) throws(Inflate.Failure) {
        // Bytes already in the bit buffer first, then straight from the input.
        var remaining = n
        while remaining > 0, count >= 8 {
            output.append(UInt8(truncatingIfNeeded: buffer))
            skip(8)
            remaining -= 1
        }
        guard remaining <= data.count - position else { throw .truncated }
        output.append(contentsOf: data[position..<(position + remaining)])
        position += remaining
    }
}

/// A canonical Huffman code, from its code lengths.
struct HuffmanCode {
    static let fastBits = 9
    static let maxBits = 15
    static let empty = HuffmanCode()

    /// Codes per length (index 1...15), and the symbols sorted by (length, symbol).
    private var counts = [Int](repeating: 0, count: HuffmanCode.maxBits + 1)
    private var symbols: [Int] = []
    /// For the next `fastBits` input bits: symbol << 4 | length, or 0 for a longer (or missing) code.
    private var fast = [Int](repeating: 0, count: 1 << HuffmanCode.fastBits)

    private init() {}

    init(lengths: [Int]) throws(Inflate.Failure) {
        for length in lengths {
            guard (0...Self.maxBits).contains(length) else { throw .badCodeLengths }
            counts[length] += 1
        }
        counts[0] = 0
        // Over-subscribed lengths describe no prefix code. (Incomplete ones are allowed: an unused code
        // then fails to decode.)
        var left = 1
        for length in 1...Self.maxBits {
            left = left * 2 - counts[length]
            guard left >= 0 else { throw .badCodeLengths }
        }
        var offsets = [Int](repeating: 0, count: Self.maxBits + 2)
        for length in 1...Self.maxBits { offsets[length + 1] = offsets[length] + counts[length] }
        symbols = [Int](repeating: 0, count: offsets[Self.maxBits + 1])
        var next = offsets
        for (symbol, length) in lengths.enumerated() where length > 0 {
            symbols[next[length]] = symbol
            next[length] += 1
        }
        // Canonical codes, shortest first; each stored bit-reversed (the stream sends codes MSB first).
        var code = 0
        var index = 0
        for length in 1...Self.maxBits {
            for _ in 0..<counts[length] {
                if length <= Self.fastBits {
                    var reversed = 0
                    for bit in 0..<length where code & (1 << bit) != 0 { reversed |= 1 << (length - 1 - bit) }
                    var fill = reversed
                    while fill < fast.count {
                        fast[fill] = symbols[index] << 4 | length
                        fill += 1 << length
                    }
                }
                code += 1
                index += 1
            }
            code <<= 1
        }
    }

    /// The next symbol from `reader`.
    @inline(__always)
    func decode(_ reader: inout BitReader) throws(Inflate.Failure) -> Int {
        let (bits, available) = reader.peek(Self.fastBits)
        let entry = fast[bits]
        if entry != 0, entry & 15 <= available {
            reader.skip(entry & 15)
            return entry >> 4
        }
        // A code longer than fastBits (or the input's last few bits): a bit at a time, counting codes per
        // length (the first code of each length follows the last of the one before).
        var code = 0, first = 0, index = 0
        for length in 1...Self.maxBits {
            code |= Int(try reader.bits(1))
            let count = counts[length]
            if code - first < count { return symbols[index + code - first] }
            index += count
            first = (first + count) << 1
            code <<= 1
        }
        throw .badSymbol
    }
}
