import ArgumentParser
import BindgenCore
import Foundation

/// Which headers to bind: a pinned set fetched by `headers/fetch.sh`, explicit include directories,
/// or (when neither is named) the host's `/usr/include`.
struct HeaderSetOptions: ParsableArguments {
    @Option(help: "A pinned header set from headers/sets.json (e.g. trixie).")
    var set: String?

    @Option(help: "Target architecture (x86_64, arm64, riscv64) or full clang triple. Default: the host's.")
    var arch: String?

    @Option(name: .customLong("include"), help: "Include directory to parse instead of a set (repeatable).")
    var includeDirectories: [String] = []

    @Option(help: "The package root: where headers/ is and where generated files go.")
    var packageRoot: String = "."

    struct Resolved {
        var parser: HeaderParser
        var includeDirectoryForManifest: String
        var regenerateCommand: String
        var mainHeaderLines: [Substring]
    }

    func resolve(defaultSet: String? = nil) throws -> Resolved {
        let triple = try arch.map { try TargetTriple.named($0) } ?? .host
        let setName = set ?? (includeDirectories.isEmpty ? defaultSet : nil)
        let directories: [String]
        let manifestDirectory: String
        let setLabel: String
        let version: String
        if let setName {
            manifestDirectory = "headers/sets/\(setName)/\(triple.architecture)/include"
            let directory = packageRoot + "/" + manifestDirectory
            guard FileManager.default.fileExists(atPath: directory + "/linux/kvm.h") else {
                throw BindgenError.headerNotFound(
                    "\(directory)/linux/kvm.h — the set is not fetched: run headers/fetch.sh \(setName) \(triple.architecture)")
            }
            directories = [directory]
            setLabel = setName
            let versionFile = packageRoot + "/headers/sets/\(setName)/\(triple.architecture)/VERSION"
            version = (try? String(contentsOfFile: versionFile, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
        } else if !includeDirectories.isEmpty {
            directories = includeDirectories
            manifestDirectory = includeDirectories[0]
            setLabel = "custom"
            version = Self.linuxVersion(in: directories) ?? "unknown"
        } else {
            let multiarch = "/usr/include/" + triple.triple.replacingOccurrences(of: "-unknown-", with: "-")
            directories = [multiarch, "/usr/include"]
            manifestDirectory = "/usr/include"
            setLabel = "host"
            version = Self.linuxVersion(in: directories) ?? "unknown"
        }
        var mainHeaderPath: String?
        for directory in directories where FileManager.default.fileExists(atPath: directory + "/linux/kvm.h") {
            mainHeaderPath = directory + "/linux/kvm.h"
            break
        }
        guard let mainHeaderPath, let text = try? String(contentsOfFile: mainHeaderPath, encoding: .utf8) else {
            throw BindgenError.headerNotFound("linux/kvm.h in \(directories.joined(separator: ", "))")
        }
        let checksum = try Self.kvmHeadersChecksum(in: directories)
        var command = "swift run kvm-bindgen generate"
        if let setName { command += " --set \(setName)" } else if !includeDirectories.isEmpty {
            command += includeDirectories.map { " --include \($0)" }.joined()
        }
        command += " --arch \(triple.architecture)"
        let parser = HeaderParser(
            includeDirectories: directories, triple: triple,
            headerInfo: HeaderInfo(path: "linux/kvm.h", set: setLabel, version: version, sha256: checksum))
        return Resolved(
            parser: parser, includeDirectoryForManifest: manifestDirectory, regenerateCommand: command,
            mainHeaderLines: text.split(separator: "\n", omittingEmptySubsequences: false))
    }

    /// `sha256sum linux/kvm.h asm/kvm.h | sha256sum`, as headers/sets.json records it.
    static func kvmHeadersChecksum(in directories: [String]) throws -> String {
        var lines = ""
        for file in ["linux/kvm.h", "asm/kvm.h"] {
            guard let directory = directories.first(where: { FileManager.default.fileExists(atPath: $0 + "/" + file) }),
                let data = FileManager.default.contents(atPath: directory + "/" + file)
            else { throw BindgenError.headerNotFound(file) }
            lines += SHA256.hexDigest(data) + "  " + file + "\n"
        }
        return SHA256.hexDigest(Array(lines.utf8))
    }

    /// `LINUX_VERSION_CODE` from linux/version.h, as major.minor.patch.
    static func linuxVersion(in directories: [String]) -> String? {
        for directory in directories {
            guard let text = try? String(contentsOfFile: directory + "/linux/version.h", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") where line.hasPrefix("#define LINUX_VERSION_CODE ") {
                guard let code = Int(line.split(separator: " ").last ?? "") else { continue }
                return "\(code >> 16).\((code >> 8) & 0xff).\(code & 0xff)"
            }
        }
        return nil
    }
}
