import Foundation

/// Runs a program to completion, its output collected in files (so large output cannot fill a pipe).
enum ProcessRunner {
    struct Result: Sendable {
        var command: String
        var status: Int32
        var standardOutput: String
        var standardError: String
        var succeeded: Bool { status == 0 }
    }

    struct LaunchError: Error, CustomStringConvertible {
        var command: String
        var underlying: String
        var description: String { "could not run `\(command)`: \(underlying)" }
    }

    /// Runs `arguments[0]` (looked up on PATH through /usr/bin/env) in `directory`.
    static func run(_ arguments: [String], in directory: URL) throws -> Result {
        let command = arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        let id = UUID().uuidString
        let outputURL = directory.appendingPathComponent(".stdout-\(id)")
        let errorURL = directory.appendingPathComponent(".stderr-\(id)")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outputURL)
            try? FileManager.default.removeItem(at: errorURL)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardInput = FileHandle.nullDevice
        do {
            let output = try FileHandle(forWritingTo: outputURL)
            let error = try FileHandle(forWritingTo: errorURL)
            defer {
                try? output.close()
                try? error.close()
            }
            process.standardOutput = output
            process.standardError = error
            try process.run()
            process.waitUntilExit()
        } catch {
            throw LaunchError(command: command, underlying: "\(error)")
        }
        return Result(
            command: command, status: process.terminationStatus,
            standardOutput: (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOf: errorURL, encoding: .utf8)) ?? "")
    }

    /// A fresh temporary directory; the caller removes it.
    static func temporaryDirectory(prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
