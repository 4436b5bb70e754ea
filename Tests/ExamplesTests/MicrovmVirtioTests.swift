import Foundation
import Glibc
import LinuxLoader
import Testing

// microvm's virtio devices, proven by the guest kernel's own drivers in one boot (inside a network
// namespace of the test's own, which holds the TAP and is deleted afterwards; no traffic leaves it):
// - disk read: sha256 of /dev/vda (random bytes, read-only) in the guest equals the host's;
// - disk write: the guest writes a pattern at an offset of /dev/vdb, the host finds it after exit;
// - ext4: an image made by `mke2fs -d` is mounted from /dev/vdc and a file read from it;
// - network: the guest pings the TAP's address in the namespace;
// - vsock: echo both ways with host Unix sockets (Firecracker's convention), the guest side by a small
//   static program (Fixtures/vsock-echo.c, built here with gcc) added to the initramfs;
// - entropy: /dev/hwrng returns data;
// - console: the kernel log and the command's output arrive on hvc0 (microvm ignores the UART then).

/// A temporary directory with a short path (Unix socket paths are limited to 107 bytes).
final class MicrovmScratch {
    let path: String
    init() throws {
        var template = Array("/tmp/mvt-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw ExampleRunner.Failure(description: "mkdtemp failed")
        }
        path = String(cString: made)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// Runs a host tool; throws with its output if it fails.
@discardableResult
func runTool(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw ExampleRunner.Failure(description: "\(arguments.joined(separator: " ")) failed: \(text)")
    }
    return text
}

/// The host ends of the vsock test: a listener at PATH_5001 that answers the guest with "host-echo:" and
/// what it sent, and a client that connects to PATH, asks for guest port 5000, sends a message and shuts
/// its sending side (retrying until the guest listens).
final class VsockHostPeer: @unchecked Sendable {
    // @unchecked: the results are written by the two threads and read after they are joined.
    var fromGuest = ""
    var echoedByGuest = ""
    var log: [String] = []
    private var threads: [Thread] = []

    static func unixSocket(_ path: String, listen: Bool) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(107).enumerated() { raw[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                listen ? bind(fd, pointer, socklen_t(MemoryLayout<sockaddr_un>.size)) : connect(fd, pointer, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result != 0 {
            close(fd)
            return -1
        }
        if listen { Glibc.listen(fd, 1) }
        return fd
    }

    static func readAll(_ fd: Int32, until stop: ((String) -> Bool)? = nil) -> String {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            data += buffer[0..<count]
            if let stop, stop(String(decoding: data, as: UTF8.self)) { break }
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func send(_ fd: Int32, _ text: String) {
        _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    init(path: String, deadline: Date) {
        let listener = Self.unixSocket(path + "_5001", listen: true)
        threads.append(Thread { [self] in
            guard listener >= 0 else { return log.append("cannot listen at \(path)_5001") }
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(max(0, deadline.timeIntervalSinceNow) * 1000)) == 1 else { return log.append("the guest never connected") }
            let connection = accept(listener, nil, nil)
            fromGuest = Self.readAll(connection)
            Self.send(connection, "host-echo:" + fromGuest)
            close(connection)
            close(listener)
        })
        threads.append(Thread { [self] in
            while Date() < deadline {
                let fd = Self.unixSocket(path, listen: false)
                if fd >= 0 {
                    Self.send(fd, "CONNECT 5000\n")
                    let reply = Self.readAll(fd, until: { $0.contains("\n") })
                    if reply.hasPrefix("OK ") {
                        // Half-closed: the guest gets SHUTDOWN(SEND) only (end of file after the message)
                        // and can still reply; its reply, then end of file, come back here.
                        Self.send(fd, "hello-from-host\n")
                        shutdown(fd, Int32(SHUT_WR))
                        echoedByGuest = Self.readAll(fd)
                        close(fd)
                        return
                    }
                    log.append("CONNECT 5000: '\(reply)'")
                    close(fd)
                }
                Thread.sleep(forTimeInterval: 1)
            }
        })
        for thread in threads { thread.start() }
    }

    func join() {
        while threads.contains(where: { !$0.isFinished }) { Thread.sleep(forTimeInterval: 0.05) }
    }
}

extension ExampleTests.Microvm {
    @Test func virtioDevicesInOneBoot() throws {
        let scratch = try MicrovmScratch()
        let (_, initrd) = try TestKernel.paths.get()

        // Disks: random bytes (read-only), zeros to write into, an ext4 image with one file.
        var random = SystemRandomNumberGenerator()
        let randomBytes = Data((0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) })
        try randomBytes.write(to: URL(fileURLWithPath: scratch.file("random.img")))
        try Data(count: 1 << 20).write(to: URL(fileURLWithPath: scratch.file("write.img")))
        try FileManager.default.createDirectory(atPath: scratch.file("rootfs"), withIntermediateDirectories: true)
        try Data("hello from ext4\n".utf8).write(to: URL(fileURLWithPath: scratch.file("rootfs/hello.txt")))
        print(try runTool(["mke2fs", "-V"]).split(separator: "\n").first ?? "")
        try runTool(["mke2fs", "-q", "-t", "ext4", "-d", scratch.file("rootfs"), scratch.file("root.ext4"), "4M"])

        // The initramfs plus vsock-echo.
        try runTool(["gcc", "-static", "-Os", "-s", "-o", scratch.file("vsock-echo"),
                     TestKernel.packageRoot.appendingPathComponent("Tests/ExamplesTests/Fixtures/vsock-echo.c").path])
        var archive = InitramfsArchive()
        try archive.addFile("bin/vsock-echo", contents: Array(try Data(contentsOf: URL(fileURLWithPath: scratch.file("vsock-echo")))), mode: 0o755)
        let base = try Data(contentsOf: URL(fileURLWithPath: initrd))
        try (base + Data(count: (4 - base.count % 4) % 4) + Data(archive.bytes)).write(to: URL(fileURLWithPath: scratch.file("initrd.cpio")))

        // The namespace and its TAP.
        let namespace = "mvt-\(getpid())"
        try runTool(["ip", "netns", "add", namespace])
        defer { _ = try? runTool(["ip", "netns", "delete", namespace]) }
        for command in [["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"], ["ip", "addr", "add", "10.200.0.1/24", "dev", "tap0"],
                        ["ip", "link", "set", "tap0", "up"], ["ip", "link", "set", "lo", "up"]] {
            try runTool(["ip", "netns", "exec", namespace] + command)
        }

        let script = """
            B=/bin/busybox
            /bin/vsock-echo serve 5000 &
            echo "disk-read $($B sha256sum < /dev/vda)"
            echo -n MICROVM-PATTERN | $B dd of=/dev/vdb bs=512 seek=8 conv=notrunc 2>/dev/null && $B sync && echo disk-write done
            $B mkdir -p /mnt && $B mount -t ext4 -o ro /dev/vdc /mnt && echo "ext4 $($B cat /mnt/hello.txt)"
            $B ip link set eth0 up && $B ip addr add 10.200.0.2/24 dev eth0
            $B ping -c 1 -W 10 10.200.0.1 >/dev/null && echo network ping ok
            echo "hwrng $($B head -c 32 /dev/hwrng | $B od -An -tx1 | $B tr -d ' \\n')"
            echo "vsock-out $(/bin/vsock-echo connect 5001 hello-from-guest)"
            echo "vda-device $($B readlink -f /sys/block/vda)"
            wait
            echo done
            """
        let deadline = Date().addingTimeInterval(280)
        let peer = VsockHostPeer(path: scratch.file("vsock"), deadline: deadline)
        let output = try TestKernel.microvm(
            ["--initrd", scratch.file("initrd.cpio"), "--disk", scratch.file("random.img") + ",ro", "--disk", scratch.file("write.img"),
             "--disk", scratch.file("root.ext4"), "--net", "tap=tap0,mac=52:54:00:12:34:56", "--vsock", "cid=3,path=" + scratch.file("vsock"),
             "--rng", "--console", "hvc0", "--verbose", "--append", "loglevel=6"],
            ["/bin/busybox", "sh", "-c", script], timeout: 300, launcher: ["/usr/bin/env", "ip", "netns", "exec", namespace])
        peer.join()
        let lines = output.standardOutput.split(separator: "\n").map(String.init)
        func line(_ prefix: String) -> String? { lines.first { $0.hasPrefix(prefix) } }
        let report = "stdout:\n\(output.standardOutput)\nstderr (last 4000):\n\(output.standardError.suffix(4000))\nvsock: \(peer.log)"

        #expect(output.status == 0, "\(report)")
        #expect(line("disk-read ")?.dropFirst("disk-read ".count).prefix(64) == (try TestKernel.sha256(randomBytes)).prefix(64)[...], "\(report)")
        #expect(line("disk-write done") != nil)
        let written = try Data(contentsOf: URL(fileURLWithPath: scratch.file("write.img")))
        #expect(written[4096..<(4096 + 15)] == Data("MICROVM-PATTERN".utf8), "the pattern at offset 4096")
        #expect(written[0..<4096].allSatisfy { $0 == 0 } && written[(4096 + 15)...].allSatisfy { $0 == 0 }, "nothing else written")
        #expect(line("ext4 ") == "ext4 hello from ext4", "\(report)")
        #expect(line("network ping ok") != nil, "\(report)")
        let hwrng = String(line("hwrng ")?.dropFirst("hwrng ".count) ?? "")
        #expect(hwrng.count == 64 && hwrng != String(repeating: "0", count: 64), "32 bytes from /dev/hwrng: '\(hwrng)'")
        #expect(line("vsock-out ") == "vsock-out host-echo:hello-from-guest", "guest → host; \(report)")
        #expect(peer.fromGuest == "hello-from-guest")
        #expect(peer.echoedByGuest == "hello-from-host\n", "host → guest → host; \(peer.log)")
        // hvc0: the kernel's log from when hvc0 registers (what came before is not replayed there), with
        // the disks' probe lines (`loglevel=6`: notices and above).
        #expect(output.standardError.contains("virtio_blk virtio0: [vda] 2048 512-byte logical blocks"), "the kernel log arrived on hvc0")
        #expect(output.standardError.contains("virtio_blk virtio2: [vdc] 8192 512-byte logical blocks"))
        #expect(lines.last == "done")
        // Announced on the command line and in the DSDT (the default): the test kernel's ACPI loads the
        // DSDT, so the ACPI devices (`LNRO0005`, in DSDT order) bind first and the command line's second
        // registration of each window fails its probe with EBUSY, harmlessly.
        #expect(line("vda-device ")?.hasPrefix("vda-device /sys/devices/platform/LNRO0005:00/virtio0/block/vda") == true, "\(report)")
    }

    /// The other announcement, for kernels without ACPI: the command line only (`virtio_mmio.device=`),
    /// with the DSDT left without virtio devices. The same boot powers off through ACPI: busybox's
    /// `poweroff -f` makes Linux write SLP_TYP(S5) | SLP_EN to PM1_CNT (LegacyDevices' ACPIPM1Registers,
    /// behind microvm's fixed-hardware FADT), which microvm reports as a power-off before the command's
    /// status (122).
    @Test func commandLineAnnouncementAndACPIPowerOff() throws {
        let scratch = try MicrovmScratch()
        var random = SystemRandomNumberGenerator()
        let bytes = Data((0..<(64 << 10)).map { _ in UInt8.random(in: 0...255, using: &random) })
        try bytes.write(to: URL(fileURLWithPath: scratch.file("disk.img")))
        let script = """
            B=/bin/busybox
            echo "disk-read $($B sha256sum < /dev/vda)"
            echo "vda-device $($B readlink -f /sys/block/vda)"
            echo "lnro $($B ls /sys/bus/acpi/devices | $B grep -c LNRO)"
            $B poweroff -f
            """
        let output = try TestKernel.microvm(
            ["--disk", scratch.file("disk.img") + ",ro", "--virtio-announce", "cmdline", "--console", "hvc0"],
            ["/bin/busybox", "sh", "-c", script])
        let lines = output.standardOutput.split(separator: "\n").map(String.init)
        func line(_ prefix: String) -> String? { lines.first { $0.hasPrefix(prefix) } }
        let report = "stdout:\n\(output.standardOutput)\nstderr (last 4000):\n\(output.standardError.suffix(4000))"
        #expect(output.status == 122, "\(report)")
        #expect(output.standardError.contains("the guest powered off"), "\(report)")
        #expect(line("disk-read ") == "disk-read \(try TestKernel.sha256(bytes))  -", "\(report)")
        #expect(line("vda-device ") == "vda-device /sys/devices/virtio-mmio-cmdline/virtio-mmio.0/virtio0/block/vda", "\(report)")
        #expect(line("lnro ") == "lnro 0", "no virtio device in the DSDT; \(report)")
    }
}
