#if arch(x86_64)
import Foundation

/// Runs GNU `as` and `objcopy` (binutils) to produce reference encodings for ``X86Code``.
enum GNUAssembler {
    enum Mode {
        case real16, protected32, long64

        var asArguments: [String] {
            switch self {
            case .real16, .protected32: ["--32", "-mx86-used-note=no"]
            case .long64: ["--64"]
            }
        }

        var directive: String {
            switch self {
            case .real16: ".code16"
            case .protected32: ".code32"
            case .long64: ".code64"
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func path(of tool: String) -> String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return directories.map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Whether `as` and `objcopy` are installed.
    static var isAvailable: Bool {
        path(of: "as") != nil && path(of: "objcopy") != nil && path(of: "nm") != nil
    }

    /// Assembles Intel-syntax `source` and returns the bytes of its `.text` section.
    static func assemble(_ source: String, mode: Mode) throws -> [UInt8] {
        guard let assembler = path(of: "as"), let objcopy = path(of: "objcopy"), let nm = path(of: "nm") else {
            throw Failure(description: "GNU binutils (as, objcopy, nm) not installed")
        }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("kvm-x86code-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let sourceFile = directory.appendingPathComponent("input.s")
        let objectFile = directory.appendingPathComponent("input.o")
        let binaryFile = directory.appendingPathComponent("input.bin")
        let text = ".intel_syntax noprefix\n\(mode.directive)\n\(source)\n"
        try text.write(to: sourceFile, atomically: true, encoding: .utf8)
        try run(assembler, mode.asArguments + [sourceFile.path, "-o", objectFile.path])
        // A misspelt label (or a GAS keyword used as one, like `far`) silently becomes an
        // undefined symbol with a zero displacement; refuse those.
        let undefined = try run(nm, ["-u", objectFile.path])
        guard undefined.allSatisfy(\.isWhitespace) else {
            throw Failure(description: "undefined symbols in test source: \(undefined)")
        }
        try run(objcopy, ["-O", "binary", "--only-section=.text", objectFile.path, binaryFile.path])
        return [UInt8](try Data(contentsOf: binaryFile))
    }

    /// Runs a tool and returns its standard output; stderr goes to a file so that neither
    /// pipe can fill up and block the tool.
    @discardableResult
    private static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("kvm-x86code-\(UUID().uuidString).err")
        guard FileManager.default.createFile(atPath: errorFile.path, contents: nil) else {
            throw Failure(description: "cannot create \(errorFile.path)")
        }
        defer { try? FileManager.default.removeItem(at: errorFile) }
        process.standardError = try FileHandle(forWritingTo: errorFile)
        try process.run()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
            throw Failure(description: "\(executable) failed: \(message)")
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// Bytes as `b8 34 12 ...`, for readable failure messages.
func hexDump(_ bytes: [UInt8]) -> String {
    bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
}
#endif
