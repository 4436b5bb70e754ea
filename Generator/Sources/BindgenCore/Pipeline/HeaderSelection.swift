import Foundation

/// Which headers to bind, resolved: a pinned set committed under `headers/sets/<set>/<arch>/include`,
/// explicit include directories (a kernel tree's `make headers_install` output, a system's `/usr/include`),
/// or the host's `/usr/include`.
public struct HeaderSelection {
    public var parser: HeaderParser
    /// The include directories as the manifest records them: as given (relative to the package root for
    /// pinned sets); each is searched after its multiarch folder, where it has one (`withMultiarch`).
    public var includeDirectoriesForManifest: [String]
    /// The command that regenerates the bindings from these headers.
    public var regenerateCommand: String
    /// The lines of `linux/kvm.h` (its section comments say which fd an ioctl applies to).
    public var mainHeaderLines: [Substring]

    /// Resolves `set` (under `packageRoot/headers/sets`), else `includeDirectories`, else the host's headers.
    /// Each include directory that has the target's multiarch folder (`x86_64-linux-gnu/asm`, as a
    /// system's `/usr/include` does) gets that folder searched first, so `--include /usr/include` works.
    public init(set: String?, includeDirectories: [String] = [], triple: TargetTriple, packageRoot: String) throws(BindgenError) {
        let directories: [String]
        let setLabel: String
        if let set {
            let relative = Self.pinnedIncludeDirectory(set: set, architecture: triple.architecture)
            let directory = packageRoot + "/" + relative
            guard FileManager.default.fileExists(atPath: directory + "/linux/kvm.h") else {
                throw .headerNotFound(
                    "\(directory)/linux/kvm.h — no pinned set '\(set)' for \(triple.architecture) in headers/sets "
                        + "(headers/sets.json lists the pinned sets; headers/fetch.sh imports a new one)")
            }
            directories = [directory]
            includeDirectoriesForManifest = [relative]
            setLabel = set
        } else if !includeDirectories.isEmpty {
            directories = Self.withMultiarch(includeDirectories, triple: triple)
            includeDirectoriesForManifest = includeDirectories
            setLabel = "custom"
        } else {
            directories = Self.withMultiarch(["/usr/include"], triple: triple)
            includeDirectoriesForManifest = ["/usr/include"]
            setLabel = "host"
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
        parser = HeaderParser(includeDirectories: directories, triple: triple, headerInfo: HeaderInfo(path: "linux/kvm.h", set: setLabel))
    }

    /// `headers/sets/<set>/<arch>/include`, relative to the package root.
    public static func pinnedIncludeDirectory(set: String, architecture: String) -> String {
        "headers/sets/\(set)/\(architecture)/include"
    }

    /// `directories`, each preceded by its `<multiarch triple>` subfolder where that exists.
    static func withMultiarch(_ directories: [String], triple: TargetTriple) -> [String] {
        let multiarch = triple.triple.replacingOccurrences(of: "-unknown-", with: "-")
        var result: [String] = []
        for directory in directories {
            let candidates = FileManager.default.fileExists(atPath: directory + "/" + multiarch + "/asm/kvm.h")
                ? [directory + "/" + multiarch, directory] : [directory]
            result += candidates.filter { !result.contains($0) }  // a recorded list expands to itself
        }
        return result
    }

    /// Parses the headers and renders every file (`kvm-bindgen generate` without the writing).
    public func generate() throws(BindgenError) -> (model: BindingModel, files: [GeneratedFile]) {
        let model = try parser.parse()
        let files = try BindingsGenerator(
            model: model, includeDirectoriesForManifest: includeDirectoriesForManifest, regenerateCommand: regenerateCommand
        ).generate(headerLines: mainHeaderLines)
        return (model, files)
    }
}
