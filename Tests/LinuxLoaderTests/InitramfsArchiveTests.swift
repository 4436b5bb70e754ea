import LinuxLoader
import Testing

// The newc writer against the format (Documentation/driver-api/early-userspace/buffer-format.rst), byte
// for byte, and ConcatenatedImage's padding between archives.

@Suite struct InitramfsArchiveFormat {
    /// The fields of every header in `bytes`: (name, mode, size, data), walking as the kernel does.
    static func entries(_ bytes: [UInt8]) throws -> [(name: String, mode: UInt32, data: [UInt8])] {
        var result: [(name: String, mode: UInt32, data: [UInt8])] = []
        var offset = 0
        func field(_ index: Int) -> UInt32 { UInt32(String(decoding: bytes[(offset + 6 + index * 8)..<(offset + 14 + index * 8)], as: UTF8.self), radix: 16)! }
        while offset < bytes.count {
            #expect(offset % 4 == 0)
            #expect(Array(bytes[offset..<(offset + 6)]) == Array("070701".utf8))
            let mode = field(1), size = Int(field(6)), nameSize = Int(field(11))
            let name = String(decoding: bytes[(offset + 110)..<(offset + 110 + nameSize - 1)], as: UTF8.self)
            #expect(bytes[offset + 110 + nameSize - 1] == 0)
            let dataStart = (offset + 110 + nameSize + 3) & ~3
            result.append((name, mode, Array(bytes[dataStart..<(dataStart + size)])))
            offset = (dataStart + size + 3) & ~3
            if name == "TRAILER!!!" { break }
        }
        #expect(offset == bytes.count, "nothing after the trailer")
        return result
    }

    @Test func goldenHeader() throws {
        var archive = InitramfsArchive()
        try archive.addFile("a", contents: Array("hi\n".utf8), mode: 0o755)
        let bytes = archive.bytes
        // ino 1, mode 0100755, uid/gid 0, nlink 1, mtime 0, size 3, dev 0:0, rdev 0:0, namesize 2, check 0.
        let header = "070701" + "00000001" + "000081ED" + "00000000" + "00000000" + "00000001" + "00000000" + "00000003"
            + "00000000" + "00000000" + "00000000" + "00000000" + "00000002" + "00000000"
        #expect(Array(bytes.prefix(110)) == Array(header.utf8))
        #expect(Array(bytes[110..<112]) == [0x61, 0], "name and NUL: 112, a multiple of 4, so the data follows at once")
        #expect(Array(bytes[112..<116]) == [0x68, 0x69, 0x0A, 0], "data padded to 4")
        #expect(Array(bytes[116..<122]) == Array("070701".utf8), "the trailer's header")
        #expect(bytes.count % 4 == 0)
    }

    @Test func entriesRoundTrip() throws {
        var archive = InitramfsArchive()
        try archive.addDirectory("microvm")
        try archive.addFile("microvm/run", contents: Array("exec 'true'\n".utf8), mode: 0o755)
        try archive.addFile("microvm/nonce", contents: Array(repeating: 0x61, count: 33))
        try archive.addFile("microvm/empty", contents: [])
        let entries = try Self.entries(archive.bytes)
        #expect(entries.map(\.name) == ["microvm", "microvm/run", "microvm/nonce", "microvm/empty", "TRAILER!!!"])
        #expect(entries.map(\.mode) == [0o040755, 0o100755, 0o100644, 0o100644, 0])
        #expect(entries[1].data == Array("exec 'true'\n".utf8))
        #expect(entries[2].data.count == 33)
    }

    @Test(arguments: ["", "/abs", "a/../b", "a//b", "./a", "a/", "TRAILER!!!", "nul\u{0}byte"])
    func refusesPaths(_ path: String) {
        var archive = InitramfsArchive()
        #expect(throws: InitramfsArchive.EntryError.invalidPath(path)) { try archive.addFile(path, contents: []) }
        #expect(archive.bytes.count == 124, "only the trailer: nothing was added")
    }

    @Test func concatenationPadsEachPartToFour() throws {
        let first = ImageBytes([1, 2, 3, 4, 5]), second = ImageBytes([6, 7]), third = ImageBytes([8])
        let image = ConcatenatedImage([first, second, third])
        #expect(image.offsets == [0, 8, 12])
        #expect(image.size == 16)
        #expect(image.bytes(at: 0, count: 16) == [1, 2, 3, 4, 5, 0, 0, 0, 6, 7, 0, 0, 8, 0, 0, 0])
        #expect(image.bytes(at: 3, count: 7) == [4, 5, 0, 0, 0, 6, 7])
        #expect(image.bytes(at: 10, count: 7) == nil, "past the end")
        #expect(image.bytes(at: -1, count: 1) == nil)
        #expect(ConcatenatedImage([]).size == 0)
    }
}
