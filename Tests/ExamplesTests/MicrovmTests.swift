import Foundation
import Testing

// `microvm` booting the minimal test kernel (Scripts/test-kernel.sh) with the busybox initramfs
// (Scripts/test-initramfs.sh) and running commands in the guest through the /init protocol. Each boot
// costs 30-90 s where KVM emulates guest kernel code, so one boot serves several checks.

enum TestKernel {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Runs `script` in the package root; its last stdout line is the product's path (built or reused).
    static func build(_ script: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [packageRoot.appendingPathComponent(script).path]
        process.currentDirectoryURL = packageRoot
        let output = Pipe()
        process.standardOutput = output
        let started = Date()
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let path = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init),
            FileManager.default.fileExists(atPath: path)
        else { throw ExampleRunner.Failure(description: "\(script) failed (status \(process.terminationStatus))") }
        print("\(script): \(path) in \(Int(Date().timeIntervalSince(started))) s")
        return path
    }

    static let paths: Result<(kernel: String, initrd: String), any Error> = Result {
        (try build("Scripts/test-kernel.sh"), try build("Scripts/test-initramfs.sh"))
    }

    /// `microvm --kernel K --initrd I OPTIONS -- COMMAND`, timed.
    static func microvm(
        _ options: [String], _ command: [String], timeout: Double = 300, launcher: [String] = []
    ) throws -> ExampleRunner.Output {
        let (kernel, initrd) = try paths.get()
        let started = Date()
        let output = try ExampleRunner.run(
            "microvm", arguments: ["--kernel", kernel, "--initrd", initrd, "--timeout", "\(Int(timeout) - 20)"] + options + ["--"] + command,
            timeout: timeout, launcher: launcher)
        print("microvm \(options) boot and command: \(Int(Date().timeIntervalSince(started))) s, status \(output.status)")
        return output
    }

    /// sha256 of `data` in hex, by coreutils' sha256sum.
    static func sha256(_ data: Data) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        DispatchQueue.global().async {
            input.fileHandleForWriting.write(data)
            try? input.fileHandleForWriting.close()
        }
        let result = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(String(decoding: result, as: UTF8.self).prefix(64))
    }
}

extension ExampleTests {
    @Suite struct Microvm {
        @Test func echoPrintsTokenAndExitsZero() throws {
            let output = try TestKernel.microvm([], ["/bin/busybox", "echo", "TOKEN with 'quotes' and $dollar"])
            #expect(output.standardOutput == "TOKEN with 'quotes' and $dollar\n", "stderr:\n\(output.standardError)")
            #expect(output.status == 0)
        }

        /// One boot: the command's exit status, and 1 MiB of output (the text of `seq 1 200000`, cut at
        /// 1,048,576 bytes: made at native speed in user mode, where /dev/urandom's kernel ChaCha20 would
        /// be emulated) arriving byte for byte, checked by a sha256 the guest prints after it. On hvc0
        /// (virtio-console): the 16550 moves ~4.4 KB/s where KVM emulates the guest kernel's serial
        /// driver, which would make this a four-minute test.
        @Test func exitStatusAndOneMiBOfOutput() throws {
            let script = """
                B=/bin/busybox
                $B seq 1 200000 | $B head -c 1048576 > /tmp/text
                $B cat /tmp/text
                echo "guest-sha256 $($B sha256sum < /tmp/text)"
                exit 7
                """
            let output = try TestKernel.microvm(["--console", "hvc0"], ["/bin/busybox", "sh", "-c", script])
            #expect(output.status == 7, "stderr:\n\(output.standardError)")
            let text = output.standardOutput
            let marker = try #require(text.range(of: "guest-sha256 "), "no checksum line; stderr:\n\(output.standardError)")
            let payload = Data(text[..<marker.lowerBound].utf8)
            #expect(payload.count == 1_048_576)
            #expect(payload.starts(with: Data("1\n2\n3\n".utf8)))
            let guestSum = String(text[marker.upperBound...].prefix(64))
            #expect(try TestKernel.sha256(payload) == guestSum)
        }

        /// A kernel that cannot start init panics: reported as a panic (121). The same boot proves an ext4
        /// root on virtio-blk: with `rdinit=` pointing nowhere the kernel mounts `root=/dev/vda` (an image
        /// made by `mke2fs -d`, with no init on it) and then finds no init there either.
        @Test func panicIsReportedAfterMountingTheExt4Root() throws {
            let scratch = try MicrovmScratch()
            try FileManager.default.createDirectory(atPath: scratch.file("rootfs"), withIntermediateDirectories: true)
            try Data("no init here\n".utf8).write(to: URL(fileURLWithPath: scratch.file("rootfs/README")))
            try runTool(["mke2fs", "-q", "-t", "ext4", "-d", scratch.file("rootfs"), scratch.file("root.ext4"), "4M"])
            let output = try TestKernel.microvm(
                ["--disk", scratch.file("root.ext4"), "--verbose", "--append", "loglevel=7 root=/dev/vda rdinit=/nonexistent init=/nonexistent"],
                ["/bin/busybox", "true"])
            #expect(output.status == 121, "stderr:\n\(output.standardError)")
            #expect(output.standardError.contains("the guest kernel panicked"))
            #expect(output.standardError.contains("VFS: Mounted root (ext4 filesystem) readonly on device"))
            #expect(output.standardError.contains("Kernel panic - not syncing: Requested init /nonexistent failed"))
            #expect(output.standardOutput.isEmpty)
        }

        /// Two vCPUs: the guest brings the second one online. (It hung in "smp: Bringing up secondary
        /// CPUs" where KVM emulates kernel code: the new CPU's first paravirtual IPI was a `vmcall` the
        /// emulator "re-executes" forever, until the emulator probe hid KVM's hypercall features.)
        @Test func twoVCPUsAreBothOnline() throws {
            let output = try TestKernel.microvm(["--cpus", "2"], ["/bin/busybox", "grep", "-c", "processor", "/proc/cpuinfo"], timeout: 120)
            #expect(output.standardOutput == "2\n", "stderr:\n\(output.standardError)")
            #expect(output.status == 0)
        }

        @Test func usageErrors() throws {
            #expect(try ExampleRunner.run("microvm", arguments: ["--kernel", "/nonexistent", "--", "true"]).status == 125)
            #expect(try ExampleRunner.run("microvm", arguments: ["--kernel", "k"]).status == 125, "no command")
            #expect(try ExampleRunner.run("microvm", arguments: ["--disk", "x,rw", "--kernel", "k", "--", "true"]).status == 125)
            #expect(try ExampleRunner.run("microvm", arguments: ["--virtio-announce", "dsdt", "--kernel", "k", "--", "true"]).status == 125)
            // Nine disks announced on the command line only: Linux gives command-line devices ISA IRQs
            // only, and microvm has eight of them free.
            let scratch = try MicrovmScratch()
            try Data(count: 4096).write(to: URL(fileURLWithPath: scratch.file("disk")))
            let (kernel, _) = try TestKernel.paths.get()
            let nine = try ExampleRunner.run(
                "microvm", arguments: ["--kernel", kernel, "--virtio-announce", "cmdline"] + (0..<9).flatMap { _ in ["--disk", scratch.file("disk")] } + ["--", "true"])
            #expect(nine.status == 125)
            #expect(nine.standardError.contains("9 virtio devices, but interrupt lines for 8 when announced on the command line only"), "\(nine.standardError)")
        }
    }
}
