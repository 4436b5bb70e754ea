// xz streams (what a kernel built with CONFIG_KERNEL_XZ carries, Debian's generic kernels among them: the
// BCJ x86 filter and LZMA2 in the .xz container), decoded by Debian's liblzma (`liblzma-dev`): its stream
// decoder handles every filter chain the container can declare and checks the stream's integrity check.
// The kernel's build appends the decompressed size after the stream; decoding stops at the stream's end.

import CLZMA
import KVM

/// xz decompression through liblzma.
public enum XZ {
    /// The .xz stream header magic: FD '7' 'z' 'X' 'Z' 00.
    public static let magic: [UInt8] = [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]

    /// Why liblzma refused a stream: its `lzma_ret` code, named.
    public struct Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// The raw `lzma_ret` value (kept even when it has no name here).
        public var code: UInt32
        /// Set instead when the output would exceed the caller's limit.
        public var outputLimit: Int?

        public init(code: UInt32, outputLimit: Int? = nil) {
            self.code = code
            self.outputLimit = outputLimit
        }

        public var description: String {
            if let outputLimit { return "xz stream: decompresses to more than \(outputLimit) bytes" }
            let reason: String
            switch code {
            case LZMA_FORMAT_ERROR.rawValue: reason = "not an .xz stream (bad header magic)"
            case LZMA_OPTIONS_ERROR.rawValue: reason = "unsupported options or filter chain"
            case LZMA_DATA_ERROR.rawValue: reason = "corrupt data"
            case LZMA_BUF_ERROR.rawValue: reason = "cut off"
            case LZMA_MEM_ERROR.rawValue: reason = "out of memory"
            case LZMA_MEMLIMIT_ERROR.rawValue: reason = "needs more memory than allowed"
            case LZMA_UNSUPPORTED_CHECK.rawValue: reason = "an integrity check liblzma does not support"
            case LZMA_PROG_ERROR.rawValue: reason = "liblzma programming error"
            default: reason = "liblzma error \(code)"
            }
            return "xz stream: \(reason)"
        }
    }

    /// Decompresses the .xz stream at the start of `input`; throws rather than produce more than `limit` bytes.
    public static func decompress(_ input: [UInt8], limit: Int = Int.max) throws(Failure) -> [UInt8] {
        var stream = lzma_stream()  // LZMA_STREAM_INIT: all zero
        // No LZMA_CONCATENATED: stop at the end of the first stream (the kernel appends its size after it).
        // Memory limit: the dictionary a stream declares is bounded by what liblzma accepts; 1 GiB caps
        // what a hostile image can make the VMM allocate.
        var status = lzma_stream_decoder(&stream, 1 << 30, 0)
        guard status == LZMA_OK else { throw Failure(code: status.rawValue) }
        defer { lzma_end(&stream) }
        var output = GrowingOutput(limit: limit, hint: sizeHint(input, limit: limit))
        let result: Failure? = input.withUnsafeBufferPointer { bytes in
            // SAFETY: next_in points into `input`, alive for this closure; avail_in is its length.
            stream.next_in = bytes.baseAddress
            stream.avail_in = bytes.count
            while true {
                let step = output.write { window in
                    // SAFETY: next_out is the unwritten rest of `output`, valid during this call only.
                    stream.next_out = window.baseAddress
                    stream.avail_out = window.count
                    status = lzma_code(&stream, LZMA_FINISH)
                    return (window.count - stream.avail_out, (status, stream.avail_out != 0))
                }
                guard let (status, roomLeft) = step else { return Failure(code: 0, outputLimit: limit) }
                if status == LZMA_STREAM_END { return nil }
                if status != LZMA_OK { return Failure(code: status.rawValue) }
                if roomLeft && stream.avail_in == 0 { return Failure(code: LZMA_BUF_ERROR.rawValue) }
            }
        }
        if let result { throw result }
        return output.finish()
    }

    /// The size the kernel's build appends, as a capacity hint when plausible (xz expands at most
    /// ~7000-fold).
    static func sizeHint(_ input: [UInt8], limit: Int) -> Int {
        guard input.count >= 4 else { return 0 }
        let size = Int(LittleEndianReader(input).read(UInt32.self, at: input.count - 4) ?? 0)
        return size <= limit && size / 8192 <= input.count ? size : 0
    }
}

/// The output of a C decoder: an array it writes into directly, grown when full (never beyond `limit`)
/// and cut to what was written at the end, so the decompressed kernel is never copied.
struct GrowingOutput {
    private var bytes: [UInt8]
    private var count = 0
    let limit: Int

    /// Starts with room for `hint` bytes (the size the kernel's build appends), or 1 MiB without one.
    init(limit: Int, hint: Int) {
        self.limit = limit
        bytes = [UInt8](repeating: 0, count: max(1, min(max(4096, hint == 0 ? 1 << 20 : hint), limit)))
    }

    /// Calls `body` with the unwritten rest of the array (grown first when full); `body` returns how
    /// many bytes it wrote there and its own result. Nil when the array is full at `limit`.
    mutating func write<Result>(_ body: (UnsafeMutableBufferPointer<UInt8>) -> (written: Int, result: Result)) -> Result? {
        if count == bytes.count {
            guard bytes.count < limit else { return nil }
            bytes.append(contentsOf: repeatElement(0, count: min(bytes.count, limit - bytes.count)))
        }
        let start = count
        let (written, result) = bytes.withUnsafeMutableBufferPointer { all in
            // SAFETY: start..<all.count lies in the array, and the pointer is used only during `body`.
            body(UnsafeMutableBufferPointer(rebasing: all[start...]))
        }
        count += written
        return result
    }

    /// The bytes written.
    consuming func finish() -> [UInt8] {
        bytes.removeLast(bytes.count - count)
        return bytes
    }
}
