import Foundation

/// Runs ACPICA's `iasl` (Debian's acpica-tools, installed by Scripts/install-dependencies.sh).
enum IASL {
    static let path: String? = ["/usr/bin/iasl", "/usr/local/bin/iasl"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let missing = "iasl is not installed (Debian's acpica-tools; Scripts/install-dependencies.sh installs it)"

    struct Result {
        var status: Int32
        var output: String
        /// The disassembly (`-d`) or nil.
        var source: String?
    }

    /// Writes `table` to a fresh directory as `name.dat` and disassembles it with `iasl -d`.
    static func disassemble(_ table: [UInt8], name: String) throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("acpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("\(name).dat")
        try Data(table).write(to: file)
        var result = try run(["-d", file.path], in: directory)
        result.source = try? String(contentsOf: directory.appendingPathComponent("\(name).dsl"), encoding: .utf8)
        return result
    }

    /// Compiles ASL `source` (e.g. a disassembly) with `iasl`; the result's status is 0 without errors.
    static func compile(_ source: String, name: String) throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("acpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("\(name).dsl")
        try source.write(to: file, atomically: true, encoding: .utf8)
        return try run([file.path], in: directory)
    }

    static func version() -> String {
        guard let path, let result = try? run(["-v"], in: FileManager.default.temporaryDirectory, path: path) else { return "none" }
        return result.output.split(separator: "\n").first { $0.contains("version") }.map(String.init) ?? "unknown"
    }

    private static func run(_ arguments: [String], in directory: URL, path: String? = IASL.path) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path ?? "/usr/bin/iasl")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }
}
