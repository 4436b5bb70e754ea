import Glibc
import SystemPackage
import Testing
import VirtioDevices
import VirtioMMIO

@Suite("Attachments: bad input gets a clear error and loses nothing")
struct AttachmentErrorTests {
    @Test("A missing disk image is a typed open error")
    func missingImage() {
        #expect(throws: VirtioDeviceError.system(operation: "open(/nonexistent/disk.img)", errno: .noSuchFileOrDirectory)) {
            _ = try DiskImageAttachment(path: "/nonexistent/disk.img")
        }
    }

    @Test("A read-only attachment presents a read-only disk of the file's size")
    func readOnlyAttachment() throws {
        let image = TemporaryImage(bytes: 4096)
        let attachment = try DiskImageAttachment(path: image.path, readOnly: true)
        #expect(attachment.isReadOnly && attachment.size == 4096 && !attachment.usesDirectIO)
        #expect(VirtioBlockDevice(configuration: .init(attachment: attachment)).capacity == 8)
    }

    @Test("A vsock path that is too long, or that is a regular file, is refused, and the file is kept")
    func vsockPaths() throws {
        let long = "/tmp/" + String(repeating: "x", count: 200)
        #expect(throws: VirtioDeviceError.system(operation: "socket path \(long)", errno: .fileNameTooLong)) {
            _ = try VsockUnixSocketAttachment(path: long)
        }
        let image = TemporaryImage(bytes: 512)
        #expect(throws: VirtioDeviceError.system(operation: "bind/listen(\(image.path))", errno: .addressInUse)) {
            _ = try VsockUnixSocketAttachment(path: image.path)
        }
        #expect(image.contents.count == 512)
    }

    @Test("An invalid TAP interface name is refused by the kernel as a typed error",
          .enabled(if: getuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0, "needs root and /dev/net/tun"))
    func tapName() {
        #expect(throws: VirtioDeviceError.self) { _ = try TAPAttachment(name: "bad name/with slash") }
    }
}
