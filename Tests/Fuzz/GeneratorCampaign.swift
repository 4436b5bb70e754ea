import Foundation

/// Generator input: mutated copies of the pinned headers (byte flips, truncation, a deleted
/// `#include` line, a deleted header, binary garbage, stray tokens) and an unwritable output folder,
/// fed to the real `kvm-bindgen generate --include DIR --arch x86_64 --package-root ROOT` on a scratch
/// package root that holds previously generated files.
///
/// Each run must exit 0, or exit non-zero with a message on stderr; it must not crash (a signal) or
/// hang (10 s); and when it fails, every previously generated file must be byte-for-byte what it was,
/// with no temporary file left beside them.
final class GeneratorCampaign: Campaign {
    let bindgen: String
    let pristine: URL
    let scratch: URL
    let root: URL
    /// The previously generated files (path relative to the root → bytes).
    private var baseline: [String: Data] = [:]
    private var failures = 0
    private var successes = 0
    private var unwritableTested = 0
    private var slowest = 0.0
    private let files: [String]

    init(settings: CampaignSettings) throws {
        let packageRoot = settings.string("root", default: FileManager.default.currentDirectoryPath)
        bindgen = settings.string("bindgen", default: packageRoot + "/.build/debug/kvm-bindgen")
        pristine = URL(fileURLWithPath: packageRoot + "/headers/sets/trixie/x86_64/include")
        scratch = URL(fileURLWithPath: packageRoot + "/.build/fuzz-work/generator-\(getpid())")
        root = scratch.appendingPathComponent("root")
        let manager = FileManager.default
        try? manager.removeItem(at: scratch)
        try manager.createDirectory(at: root, withIntermediateDirectories: true)
        files = (manager.enumerator(atPath: pristine.path)?.compactMap { $0 as? String } ?? [])
            .filter { $0.hasSuffix(".h") }.sorted()
        guard !files.isEmpty else { throw Violation("no headers at \(pristine.path)") }
        let first = try Self.generate(bindgen, include: pristine.path, root: root.path)
        guard first.status == 0 else { throw Violation("the pristine headers do not generate: \(first.stderr)") }
        baseline = try snapshot()
    }

    /// Removes the scratch root (the runner ends with `exit`, so no deinit runs).
    func finish() throws { try? FileManager.default.removeItem(at: scratch) }

    func snapshot() throws -> [String: Data] {
        var result: [String: Data] = [:]
        let manager = FileManager.default
        for case let path as String in manager.enumerator(atPath: root.path)! {
            var isDirectory: ObjCBool = false
            let full = root.appendingPathComponent(path).path
            if manager.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                result[path] = try Data(contentsOf: URL(fileURLWithPath: full))
            }
        }
        return result
    }

    struct Run {
        var status: Int32
        var signalled: Bool
        var stderr: String
        var seconds: Double
        var timedOut: Bool
    }

    static func generate(_ bindgen: String, include: String, root: String, timeout: Double = 10) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bindgen)
        process.arguments = ["generate", "--include", include, "--arch", "x86_64", "--package-root", root]
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        let started = Clock.seconds
        try process.run()
        var timedOut = false
        let watchdog = DispatchWorkItem {
            timedOut = true
            process.interrupt()
            kill(process.processIdentifier, SIGKILL)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let errorData = errorPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        return Run(
            status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
            stderr: String(decoding: errorData, as: UTF8.self), seconds: Clock.seconds - started, timedOut: timedOut)
    }

    struct Mutation {
        var kind: String
        var file: String
        var detail: String
        var apply: (URL) throws -> Void
    }

    func mutation(_ random: inout FuzzRandom) -> Mutation {
        let file = random.pick(files)
        switch random.next() % 8 {
        case 0:
            let flips = (0..<(1 + Int(random.next() % 16))).map { _ in (random.next(), UInt8(truncatingIfNeeded: random.next())) }
            return Mutation(kind: "byte flips", file: file, detail: "\(flips.count) bytes") { url in
                var data = try Data(contentsOf: url)
                guard !data.isEmpty else { return }
                for (position, value) in flips { data[Int(position % UInt64(data.count))] = value }
                try data.write(to: url)
            }
        case 1:
            let fraction = Double(random.next() % 1000) / 1000
            return Mutation(kind: "truncated", file: file, detail: "to \(Int(fraction * 100))%") { url in
                let data = try Data(contentsOf: url)
                try data.prefix(Int(Double(data.count) * fraction)).write(to: url)
            }
        case 2:
            let pick = random.next()
            return Mutation(kind: "include deleted", file: file, detail: "an #include line") { url in
                var lines = try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\n")
                let includes = lines.indices.filter { lines[$0].hasPrefix("#include") }
                guard !includes.isEmpty else { return }
                lines.remove(at: includes[Int(pick % UInt64(includes.count))])
                try lines.joined(separator: "\n").write(to: url, atomically: false, encoding: .utf8)
            }
        case 3:
            return Mutation(kind: "header missing", file: file, detail: "deleted") { url in
                try FileManager.default.removeItem(at: url)
            }
        case 4:
            let garbage = random.bytes(Int(random.next() % 65536))
            return Mutation(kind: "binary garbage", file: file, detail: "\(garbage.count) random bytes") { url in
                try Data(garbage).write(to: url)
            }
        case 5:
            let tokens = random.pick([
                "struct kvm_regs { int x; };", "#error fuzz", "#define KVM_GET_API_VERSION", "}}}", "#if 1", "typedef int __u64;",
                "#include \"missing.h\"", "#include <linux/kvm.h>", "struct kvm_run;", "#define _IOW(a,b,c) 0", "\u{0}\u{1}\u{2}",
            ])
            let position = random.next()
            return Mutation(kind: "stray tokens", file: file, detail: tokens) { url in
                var lines = try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\n")
                lines.insert(tokens, at: Int(position % UInt64(lines.count + 1)))
                try lines.joined(separator: "\n").write(to: url, atomically: false, encoding: .utf8)
            }
        case 6:
            return Mutation(kind: "include folder missing", file: "", detail: "the whole folder") { _ in }
        default:
            return Mutation(kind: "unwritable output folder", file: "", detail: "Sources/KVMBindings/Generated/x86_64 immutable") { _ in }
        }
    }

    func describe(iteration: Int, random: inout FuzzRandom) -> String {
        let m = mutation(&random)
        return "{\"mutation\": \(jsonString(m.kind)), \"file\": \(jsonString(m.file)), \"detail\": \(jsonString(m.detail))}"
    }

    func figures() -> [(String, String)] {
        [
            ("generator-succeeded", String(successes)), ("generator-refused", String(failures)),
            ("unwritable-output-tested", String(unwritableTested)), ("slowest-generate-ms", String(Int(slowest * 1000))),
            ("setting-baseline-files", String(baseline.count)),
        ]
    }

    func run(iteration: Int, random: inout FuzzRandom) throws -> String {
        let m = mutation(&random)
        let manager = FileManager.default
        let include = scratch.appendingPathComponent("include-\(iteration)")
        try? manager.removeItem(at: include)
        defer { try? manager.removeItem(at: include) }
        var includePath = include.path
        var lockedFolder: String?
        switch m.kind {
        case "include folder missing":
            includePath = scratch.appendingPathComponent("no-such-folder").path
        case "unwritable output folder":
            try manager.copyItem(at: pristine, to: include)
            // A header change, so the generator has something new to write.
            let kvm = include.appendingPathComponent("linux/kvm.h")
            try (String(contentsOf: kvm, encoding: .utf8) + "\n#define KVM_FUZZ_NEW_CONSTANT 0x1234\n").write(to: kvm, atomically: false, encoding: .utf8)
            let folder = root.appendingPathComponent("Sources/KVMBindings/Generated/x86_64").path
            if Self.makeImmutable(folder, true) {
                lockedFolder = folder
                unwritableTested += 1
            } else {
                return "unwritable output folder: not testable here (chattr +i refused)"
            }
        default:
            try manager.copyItem(at: pristine, to: include)
            try m.apply(include.appendingPathComponent(m.file))
        }
        let result: Run
        do {
            defer { if let lockedFolder { _ = Self.makeImmutable(lockedFolder, false) } }
            result = try Self.generate(bindgen, include: includePath, root: root.path)
        }
        slowest = max(slowest, result.seconds)
        if result.timedOut { throw Violation("kvm-bindgen hung (killed after 10 s) on \(m.kind) of \(m.file)") }
        if result.signalled { throw Violation("kvm-bindgen died of signal \(result.status) on \(m.kind) of \(m.file): \(result.stderr.suffix(2000))") }
        let after = try snapshot()
        if result.status == 0 {
            successes += 1
            if lockedFolder != nil { throw Violation("kvm-bindgen reported success though its output folder was unwritable") }
            // Put the previous files back for the next case.
            for path in after.keys where baseline[path] == nil { try manager.removeItem(at: root.appendingPathComponent(path)) }
            for (path, data) in baseline where after[path] != data { try data.write(to: root.appendingPathComponent(path)) }
            return "\(m.kind): exit 0"
        }
        failures += 1
        let message = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        if message.isEmpty { throw Violation("kvm-bindgen exited \(result.status) without a message on \(m.kind) of \(m.file)") }
        if after != baseline {
            let changed = Set(after.keys).union(baseline.keys).filter { after[$0] != baseline[$0] }.sorted()
            throw Violation("kvm-bindgen failed (\(result.status)) on \(m.kind) of \(m.file) but changed \(changed)")
        }
        let errorLines = message.split(separator: "\n").filter { $0.hasPrefix("Error:") }.count
        if errorLines != 1 { throw Violation("kvm-bindgen printed \(errorLines) 'Error:' messages, not one, on \(m.kind) of \(m.file): \(message.prefix(2000))") }
        let firstLine = message.split(separator: "\n").first.map(String.init) ?? ""
        let summary = firstLine.replacingOccurrences(of: scratch.path, with: "SCRATCH")
        return "\(m.kind): exit \(result.status): \(errorKey(text: String(summary.prefix(70))))"
    }

    /// `chattr +i` / `-i`: an immutable folder refuses new files even to root.
    static func makeImmutable(_ path: String, _ on: Bool) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/chattr")
        process.arguments = [on ? "+i" : "-i", path]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}
