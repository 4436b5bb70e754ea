// zstd frames (what a kernel built with CONFIG_KERNEL_ZSTD carries), decoded by Debian's libzstd
// (`libzstd-dev`) with its streaming decoder. The kernel's build appends the decompressed size after the
// frame; decoding stops at the frame's end.

import CZstd

/// zstd decompression through libzstd.
public enum Zstd {
    /// The zstd frame magic 0xFD2FB528, little-endian.
    public static let magic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]

    /// Why libzstd refused a frame: its error name.
    public struct Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// libzstd's `ZSTD_getErrorName`, or the loader's own reason.
        public var reason: String
        public init(reason: String) { self.reason = reason }
        public var description: String { "zstd stream: \(reason)" }
    }

    /// Decompresses the zstd frame at the start of `input`; throws rather than produce more than `limit` bytes.
    public static func decompress(_ input: [UInt8], limit: Int = Int.max) throws(Failure) -> [UInt8] {
        guard let context = ZSTD_createDCtx() else { throw Failure(reason: "cannot create a decompression context") }
        defer { ZSTD_freeDCtx(context) }
        // The window a frame may declare: 2^27 (what the kernel's `zstd -22 --ultra` uses, and libzstd's
        // default), more when the limit is larger, at most 1 GiB, so a hostile image cannot make the VMM
        // allocate more than that.
        var windowLog = 27
        while windowLog < 30 && (1 << windowLog) < limit { windowLog += 1 }
        _ = ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, Int32(windowLog))
        let declared = input.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        // ZSTD_CONTENTSIZE_UNKNOWN and _ERROR are the two largest values: no hint then.
        let hint = declared < UInt64.max - 1 && declared <= UInt64(limit) ? Int(declared) : XZ.sizeHint(input, limit: limit)
        var output = GrowingOutput(limit: limit, hint: hint)
        let result: Failure? = input.withUnsafeBytes { bytes in
            // SAFETY: `source` points into `input`, alive for this closure; size is its length.
            var source = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
            while true {
                let step = output.write { window in
                    // SAFETY: `destination` is the unwritten rest of `output`, valid during this call only.
                    var destination = ZSTD_outBuffer(dst: window.baseAddress, size: window.count, pos: 0)
                    let remaining = ZSTD_decompressStream(context, &destination, &source)
                    return (destination.pos, (remaining, destination.pos < destination.size))
                }
                guard let (remaining, roomLeft) = step else { return Failure(reason: "decompresses to more than \(limit) bytes") }
                if ZSTD_isError(remaining) != 0 { return Failure(reason: String(cString: ZSTD_getErrorName(remaining))) }
                if remaining == 0 { return nil }  // the frame is complete and flushed
                if source.pos == source.size && roomLeft { return Failure(reason: "cut off") }
            }
        }
        if let result { throw result }
        return output.finish()
    }
}
