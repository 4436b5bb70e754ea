import ArgumentParser
import BindgenCore
import Foundation

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report how the KVM API changed between two header sets: ioctls, structs, capabilities, exit reasons, constants.",
        discussion: """
            A and B are KVMBindings.manifest.json files, pinned header sets (e.g. bullseye trixie), or include \
            directories holding linux/kvm.h (a set headers/fetch.sh downloaded for review, a kernel tree's \
            headers_install output); sets and directories are generated in memory for --arch.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case markdown, json }

    @Argument(help: "The older side: a manifest file or a pinned set name.")
    var from: String

    @Argument(help: "The newer side: a manifest file or a pinned set name.")
    var to: String

    @Option(help: "Architecture for set names (x86_64, arm64, riscv64). Default: the host's.")
    var arch: String?

    @Option(help: "markdown or json.")
    var format: Format = .markdown

    @Option(help: "The package root, where headers/ is.")
    var packageRoot: String = "."

    func run() throws {
        do {
            let diff = ManifestDiff(from: try manifest(from), to: try manifest(to))
            print(format == .json ? try DiffRenderer.json(diff) : DiffRenderer.markdown(diff), terminator: "")
        } catch let error as BindgenError {
            throw ValidationFailure(error.description)
        }
    }

    private func manifest(_ side: String) throws -> BindingsManifest {
        let triple = try arch.map { (name) throws(BindgenError) -> TargetTriple in try TargetTriple.named(name) } ?? .host
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: side, isDirectory: &isDirectory), isDirectory.boolValue {
            let (_, files) = try HeaderSelection(set: nil, includeDirectories: [side], triple: triple, packageRoot: packageRoot).generate()
            return try BindingsManifest.decode(from: files)
        }
        if side.hasSuffix(".json") || side.contains("/") {
            guard let data = FileManager.default.contents(atPath: side) else {
                throw ValidationFailure("cannot read the manifest \(side)")
            }
            do {
                return try BindingsManifest.decode(data)
            } catch {
                throw ValidationFailure("\(side) is not a KVMBindings manifest: \(error)")
            }
        }
        let (_, files) = try HeaderSelection(set: side, triple: triple, packageRoot: packageRoot).generate()
        return try BindingsManifest.decode(from: files)
    }
}
