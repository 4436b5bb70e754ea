import Foundation
import Testing

// The example VMMs are executables: their tests run the built binaries as subprocesses and check what
// they print.
//
// Finding them: SwiftPM puts every product of a build, the test bundle included, in one directory
// (`<scratch path>/<triple>/<configuration>`, e.g. `.build/debug`), and `swift build --build-tests` and
// `swift test` build the executables along with the tests. So the examples are next to the running test
// binary (`/proc/self/exe`). `SWIFT_KVM_EXAMPLES_DIR` overrides that directory (e.g. to test release
// builds). A missing binary fails the test, saying how to build it.

/// The root of the example suites: serialized (each example owns the machine for a moment, and one
/// measures time), and disabled where /dev/kvm is absent or not accessible.
@Suite(.serialized, .enabled(if: ExampleRunner.kvmIsAvailable, ExampleRunner.skipReason))
struct ExampleTests {}

enum ExampleRunner {
    static let kvmIsAvailable = access("/dev/kvm", R_OK | W_OK) == 0
    static let skipReason: Comment = "/dev/kvm is absent or not accessible: the example VMMs need KVM"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// What a finished example printed.
    struct Output {
        var status: Int32
        var standardOutput: String
        var standardError: String
        var lines: [Substring] { standardOutput.split(separator: "\n", omittingEmptySubsequences: false) }
    }

    /// The directory the example binaries are in.
    static var binaryDirectory: URL {
        if let override = ProcessInfo.processInfo.environment["SWIFT_KVM_EXAMPLES_DIR"] {
            return URL(fileURLWithPath: override, isDirectory: true)
        }
        return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }

    static func executable(_ name: String) throws -> URL {
        let url = binaryDirectory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw Failure(description: """
                example binary '\(name)' not found in \(binaryDirectory.path): build it first (`swift build \
                --build-tests`, or `swift build --product \(name)` with the same scratch path and configuration), \
                or set SWIFT_KVM_EXAMPLES_DIR to the directory that holds it
                """)
        }
        return url
    }

    /// Runs example `name` with `arguments`, writes `input` to its stdin (each chunk after waiting
    /// `secondsBetweenChunks`; then stdin is closed), and returns what it printed. Kills it and throws
    /// after `timeout` seconds. With a `launcher` (e.g. `["/usr/sbin/ip", "netns", "exec", "NAME"]`) the
    /// example runs under it.
    static func run(
        _ name: String, arguments: [String] = [], input: [String] = [], secondsBetweenChunks: Double = 0,
        timeout: Double = 60, launcher: [String] = []
    ) throws -> Output {
        let process = Process()
        if let program = launcher.first {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = launcher.dropFirst() + [try executable(name).path] + arguments
        } else {
            process.executableURL = try executable(name)
            process.arguments = arguments
        }
        let standardInput = Pipe(), standardOutput = Pipe(), standardError = Pipe()
        process.standardInput = standardInput
        process.standardOutput = standardOutput
        process.standardError = standardError
        try process.run()

        // Readers and the stdin writer run on their own threads, so no pipe can fill up and stall the child.
        let collected = Collected()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            let data = standardOutput.fileHandleForReading.readDataToEndOfFile()
            collected.lock.withLock { collected.output = data }
        }
        DispatchQueue.global().async(group: group) {
            let data = standardError.fileHandleForReading.readDataToEndOfFile()
            collected.lock.withLock { collected.error = data }
        }
        DispatchQueue.global().async {
            for (index, chunk) in input.enumerated() {
                if index > 0 && secondsBetweenChunks > 0 { Thread.sleep(forTimeInterval: secondsBetweenChunks) }
                try? standardInput.fileHandleForWriting.write(contentsOf: Data(chunk.utf8))
            }
            try? standardInput.fileHandleForWriting.close()
        }

        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            _ = group.wait(timeout: .now() + 5)
            let partial = collected.lock.withLock { String(decoding: collected.output, as: UTF8.self) }
            throw Failure(description: "\(name) did not finish within \(timeout) s; it printed:\n\(partial)")
        }
        process.waitUntilExit()
        _ = group.wait(timeout: .now() + 5)
        return collected.lock.withLock {
            Output(
                status: process.terminationStatus,
                standardOutput: String(decoding: collected.output, as: UTF8.self),
                standardError: String(decoding: collected.error, as: UTF8.self))
        }
    }

    private final class Collected: @unchecked Sendable {
        let lock = NSLock()
        var output = Data()
        var error = Data()
    }
}
