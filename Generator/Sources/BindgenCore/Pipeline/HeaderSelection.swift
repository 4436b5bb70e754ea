import Foundation

/// Which headers to bind, resolved: a pinned set fetched by `headers/fetch.sh`
/// (`headers/sets/<set>/<arch>/include`), explicit include directories, or the host's `/usr/include`.
public struct HeaderSelection {
    public var parser: HeaderParser
    /// The include directory as the manifest records it (relative to the package root for pinned sets).
    public var includeDirectoryForManifest: String
    /// The command that regenerates the bindings from these headers.
    public var regenerateCommand: String
    /// The lines of `linux/kvm.h` (its section comments say which fd an ioctl applies to).
    public var mainHeaderLines: [Substring]

    /// Resolves `set` (under `packageRoot/headers/sets`), else `includeDirectories`, else the host's headers.
    public init(set: String?, includeDirectories: [String] = [], triple: TargetTriple, packageRoot: String) throws(BindgenError) {
        let directories: [String]
        let setLabel: String
        let version: String
        if let set {
            let relative = "headers/sets/\(set)/\(triple.architecture)"
            let directory = packageRoot + "/" + relative + "/include"
            guard FileManager.default.fileExists(atPath: directory + "/linux/kvm.h") else {
                throw .headerNotFound(
                    "\(directory)/linux/kvm.h — the set is not fetched: run headers/fetch.sh \(set) \(triple.architecture)")
            }
            directories = [directory]
            includeDirectoryForManifest = relative + "/include"
            setLabel = set
            version = (try? String(contentsOfFile: packageRoot + "/" + relative + "/VERSION", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
        } else if !includeDirectories.isEmpty {
            directories = includeDirectories
            includeDirectoryForManifest = includeDirectories[0]
            setLabel = "custom"
            version = Self.linuxVersion(in: directories) ?? "unknown"
        } else {
            let multiarch = "/usr/include/" + triple.triple.replacingOccurrences(of: "-unknown-", with: "-")
            directories = [multiarch, "/usr/include"]
            includeDirectoryForManifest = "/usr/include"
            setLabel = "host"
            version = Self.linuxVersion(in: directories) ?? "unknown"
        }
        guard let mainHeader = directories.lazy.map({ $0 + "/linux/kvm.h" }).first(where: FileManager.default.fileExists),
            let text = try? String(contentsOfFile: mainHeader, encoding: .utf8)
        else {
            throw .headerNotFound("linux/kvm.h in \(directories.joined(separator: ", "))")
        }
        var command = "swift run kvm-bindgen generate"
        if let set { command += " --set \(set)" } else { command += includeDirectories.map { " --include \($0)" }.joined() }
        regenerateCommand = command + " --arch \(triple.architecture)"
        mainHeaderLines = text.split(separator: "\n", omittingEmptySubsequences: false)
        parser = HeaderParser(
            includeDirectories: directories, triple: triple,
            headerInfo: HeaderInfo(
                path: "linux/kvm.h", set: setLabel, version: version, sha256: try Self.kvmHeadersChecksum(in: directories)))
    }

    /// Parses the headers and renders every file (`kvm-bindgen generate` without the writing).
    public func generate() throws(BindgenError) -> (model: BindingModel, files: [GeneratedFile]) {
        let model = try parser.parse()
        let files = try BindingsGenerator(
            model: model, includeDirectoryForManifest: includeDirectoryForManifest, regenerateCommand: regenerateCommand
        ).generate(headerLines: mainHeaderLines)
        return (model, files)
    }

    /// `sha256sum linux/kvm.h asm/kvm.h | sha256sum`, as headers/sets.json records it.
    public static func kvmHeadersChecksum(in directories: [String]) throws(BindgenError) -> String {
        var lines = ""
        for file in ["linux/kvm.h", "asm/kvm.h"] {
            guard let directory = directories.first(where: { FileManager.default.fileExists(atPath: $0 + "/" + file) }),
                let data = FileManager.default.contents(atPath: directory + "/" + file)
            else { throw .headerNotFound(file) }
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
