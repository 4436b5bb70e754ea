import Glibc
import KVM
import Testing
import VirtioDevices
import VirtioMMIO
import VirtioQueue

/// A temporary raw image filled with a pattern; removed on deinit.
final class TemporaryImage {
    let path: String
    init(bytes: Int, directory: String = "/tmp") {
        path = "\(directory)/virtio-block-test-\(getpid())-\(UInt32.random(in: 0 ... .max)).img"
        let pattern = (0 ..< bytes).map { UInt8(truncatingIfNeeded: $0 * 7 + $0 / 512) }
        let fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0o600)
        precondition(fd >= 0)
        _ = pattern.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        close(fd)
    }
    deinit { unlink(path) }

    var contents: [UInt8] {
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 1 << 20)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        return Array(bytes[0 ..< max(count, 0)])
    }
}

@Suite("virtio-blk")
struct VirtioBlockDeviceTests {
    static func makeDevice(bytes: Int, readOnly: Bool = false, serial: String = "") throws -> VirtioBlockDevice {
        let image = TemporaryImage(bytes: bytes)
        let attachment = try DiskImageAttachment(path: image.path, readOnly: readOnly)
        return VirtioBlockDevice(configuration: .init(attachment: attachment, serial: serial))
    }

    /// A request header (type, reserved, sector).
    static func header(_ type: UInt32, sector: UInt64 = 0) -> [UInt8] {
        withUnsafeBytes(of: type.littleEndian, Array.init) + [0, 0, 0, 0] + withUnsafeBytes(of: sector.littleEndian, Array.init)
    }

    struct Fixture {
        let image: TemporaryImage
        let device: VirtioBlockDevice
        let driver: MMIODriver
        var model: VirtioDriverModel

        init(bytes: Int = 64 * 1024, readOnly: Bool = false, serial: String = "disk-serial-1", directory: String = "/tmp", directIO: Bool = false) throws {
            image = TemporaryImage(bytes: bytes, directory: directory)
            let attachment = try DiskImageAttachment(path: image.path, readOnly: readOnly, directIO: directIO)
            device = VirtioBlockDevice(configuration: .init(attachment: attachment, serial: serial))
            let (driver, models) = try MMIODriver.ready(device, queues: 1)
            self.driver = driver
            model = models[0]
        }

        /// Posts header + optional data out, data in of `inLength`, status; returns (used length, status, data in).
        mutating func request(_ header: [UInt8], out: [UInt8] = [], inLength: Int = 0, indirect: Bool = false) throws
            -> (length: UInt32, status: UInt8, data: [UInt8])
        {
            let headerAddress = try model.allocate(header.count, filledWith: header)
            var segments: [VirtioDriverModel.Segment] = [.init(address: headerAddress, length: UInt32(header.count), writable: false)]
            if !out.isEmpty {
                segments.append(.init(address: try model.allocate(out.count, filledWith: out), length: UInt32(out.count), writable: false))
            }
            let dataIn = try model.allocate(inLength)
            if inLength > 0 { segments.append(.init(address: dataIn, length: UInt32(inLength), writable: true)) }
            let status = try model.allocate(1, filledWith: [0xFF])
            segments.append(.init(address: status, length: 1, writable: true))
            if indirect { try model.postIndirect(segments) } else { try model.post(segments) }
            driver.notify(0)
            let used = try waitForUsed(&model, count: 1)
            try #require(used.count == 1)
            return (
                used[0].length, try driver.memory.load(UInt8.self, at: GuestAddress(status)),
                try driver.memory.readBytes(at: GuestAddress(dataIn), count: inLength)
            )
        }
    }

    @Test("Configuration space reports the capacity; features follow the options")
    func configuration() throws {
        let fixture = try Fixture(bytes: 1 << 20)
        let config = fixture.driver.transport
        #expect(config.read(at: 0x100, size: 8) == (1 << 20) / 512)
        #expect(config.read(at: 0x100 + 20, size: 4) == 512)
        let features = fixture.driver.deviceFeatures()
        #expect(features.contains(VirtioBlockDevice.Feature.flush))
        #expect(features.contains(VirtioBlockDevice.Feature.discard))
        #expect(!features.contains(VirtioBlockDevice.Feature.readOnly))
        let readOnly = try Fixture(readOnly: true)
        #expect(readOnly.driver.deviceFeatures().contains(VirtioBlockDevice.Feature.readOnly))
        #expect(!readOnly.driver.deviceFeatures().contains(VirtioBlockDevice.Feature.discard))
    }

    @Test("Reads return the image's bytes, through direct and indirect chains")
    func reads() throws {
        var fixture = try Fixture()
        let expected = Array(fixture.image.contents[1024 ..< 1024 + 2048])
        let direct = try fixture.request(Self.header(0, sector: 2), inLength: 2048)
        #expect(direct.status == 0 && direct.length == 2049 && direct.data == expected)
        let indirect = try fixture.request(Self.header(0, sector: 2), inLength: 2048, indirect: true)
        #expect(indirect.status == 0 && indirect.data == expected)
    }

    @Test("Writes reach the file; flush succeeds")
    func writes() throws {
        var fixture = try Fixture()
        let data = (0 ..< 1024).map { UInt8(truncatingIfNeeded: $0 ^ 0x5A) }
        let result = try fixture.request(Self.header(1, sector: 4), out: data)
        #expect(result.status == 0 && result.length == 1)
        #expect(Array(fixture.image.contents[2048 ..< 3072]) == data)
        #expect(try fixture.request(Self.header(4)).status == 0)
    }

    @Test("A read-only disk fails writes and keeps its bytes")
    func readOnly() throws {
        var fixture = try Fixture(readOnly: true)
        let before = fixture.image.contents
        #expect(try fixture.request(Self.header(1, sector: 0), out: [UInt8](repeating: 1, count: 512)).status == 1)
        #expect(fixture.image.contents == before)
        #expect(try fixture.request(Self.header(0, sector: 0), inLength: 512).status == 0)
    }

    @Test("GET_ID returns the serial, zero-padded to 20 bytes")
    func serial() throws {
        var fixture = try Fixture(serial: "disk-serial-1")
        let result = try fixture.request(Self.header(8), inLength: 20)
        #expect(result.status == 0)
        #expect(result.data == Array("disk-serial-1".utf8) + [UInt8](repeating: 0, count: 7))
    }

    @Test("Discard and write-zeroes zero the range")
    func discardAndWriteZeroes() throws {
        var fixture = try Fixture()
        func segment(_ sector: UInt64, _ count: UInt32, _ flags: UInt32) -> [UInt8] {
            withUnsafeBytes(of: sector.littleEndian, Array.init) + withUnsafeBytes(of: count.littleEndian, Array.init)
                + withUnsafeBytes(of: flags.littleEndian, Array.init)
        }
        #expect(try fixture.request(Self.header(13), out: segment(8, 2, 0)).status == 0)
        #expect(fixture.image.contents[4096 ..< 5120].allSatisfy { $0 == 0 })
        #expect(try fixture.request(Self.header(13), out: segment(16, 8, 1)).status == 0)
        #expect(fixture.image.contents[8192 ..< 12288].allSatisfy { $0 == 0 })
        #expect(fixture.image.contents.count == 64 * 1024)
        #expect(try fixture.request(Self.header(11), out: segment(32, 8, 0)).status == 0)
        // Past the end, a bad flag, and a ragged segment list fail with IOERR.
        #expect(try fixture.request(Self.header(13), out: segment(127, 2, 0)).status == 1)
        #expect(try fixture.request(Self.header(11), out: segment(0, 1, 1)).status == 1)
        #expect(try fixture.request(Self.header(13), out: [1, 2, 3]).status == 1)
    }

    @Test("Out-of-range sectors, ragged lengths and unknown types fail the request; the device goes on")
    func failedRequests() throws {
        var fixture = try Fixture(bytes: 4096)
        #expect(try fixture.request(Self.header(0, sector: 8), inLength: 512).status == 1)
        #expect(try fixture.request(Self.header(0, sector: 7), inLength: 1024).status == 1)
        #expect(try fixture.request(Self.header(0, sector: .max), inLength: 512).status == 1)
        #expect(try fixture.request(Self.header(1, sector: 0), out: [1, 2, 3]).status == 1)
        #expect(try fixture.request(Self.header(0, sector: 0), inLength: 100).status == 1)
        #expect(try fixture.request(Self.header(99)).status == 2)
        #expect(try fixture.request(Self.header(0, sector: 7), inLength: 512).status == 0)
        #expect(!fixture.driver.status.contains(.deviceNeedsReset))
    }

    @Test("A request without a status byte or with a short header makes the device need a reset")
    func malformedRequests() throws {
        var fixture = try Fixture()
        let header = try fixture.model.allocate(16, filledWith: Self.header(0))
        try fixture.model.post([.init(address: header, length: 16, writable: false)])
        fixture.driver.notify(0)
        #expect(eventually { fixture.driver.status.contains(.deviceNeedsReset) })

        var short = try Fixture()
        let part = try short.model.allocate(8, filledWith: [0, 0, 0, 0, 0, 0, 0, 0])
        let status = try short.model.allocate(1)
        try short.model.post([.init(address: part, length: 8, writable: false), .init(address: status, length: 1, writable: true)])
        short.driver.notify(0)
        #expect(eventually { short.driver.status.contains(.deviceNeedsReset) })
        #expect(short.driver.errors.all == [.malformedRequest("block request header shorter than 16 bytes")])
    }

    @Test("O_DIRECT images serve aligned reads and writes (on a file system with O_DIRECT)")
    func directIO() throws {
        // tmpfs has no O_DIRECT; the package directory is on a disk file system.
        let directory = String(#filePath.dropLast("/Tests/VirtioTests/VirtioBlockDeviceTests.swift".count)) + "/.build"
        var fixture = try Fixture(directory: directory, directIO: true)
        let data = [UInt8](repeating: 0xA5, count: 4096)
        #expect(try fixture.request(Self.header(1, sector: 8), out: data).status == 0)
        #expect(try fixture.request(Self.header(0, sector: 8), inLength: 4096).data == data)
    }
}
