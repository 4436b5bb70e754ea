import ArgumentParser
import BindgenCore
import Foundation

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Regenerate in memory and fail if the committed bindings differ.",
        discussion: """
            Without --set, an architecture is checked against the header set its committed manifest names. \
            --all checks every architecture committed under Sources/KVMBindings/Generated/.
            """)

    @OptionGroup var headers: HeaderSetOptions

    @Flag(help: "Check every committed architecture, each against the set its manifest names.")
    var all = false

    func validate() throws {
        if all && (headers.arch != nil || headers.set != nil || !headers.includeDirectories.isEmpty) {
            throw ValidationError("--all checks each committed architecture against its own manifest; drop --arch, --set and --include")
        }
    }

    func run() throws {
        do throws(BindgenError) {
            let triples: [TargetTriple]
            if all {
                let architectures = BindingsGenerator.committedArchitectures(under: headers.packageRoot)
                guard !architectures.isEmpty else {
                    throw BindgenError.headerNotFound("no committed bindings under \(headers.packageRoot)/Sources/KVMBindings/Generated")
                }
                triples = try architectures.map { (architecture) throws(BindgenError) -> TargetTriple in
                    try TargetTriple.named(architecture)
                }
            } else {
                triples = [try headers.triple]
            }
            var failures: [String] = []
            for triple in triples {
                do {
                    try check(triple)
                } catch {
                    failures.append(error.description)
                }
            }
            guard failures.isEmpty else { throw BindgenError.stale(failures.joined(separator: "\n")) }
        } catch {
            throw ValidationFailure(error.description)
        }
    }

    private func check(_ triple: TargetTriple) throws(BindgenError) {
        let committed = committedSource(architecture: triple.architecture)
        let named = headers.set != nil || !headers.includeDirectories.isEmpty
        let selection = try HeaderSelection(
            set: headers.set ?? (named ? nil : committed.set),
            includeDirectories: named ? headers.includeDirectories : committed.includeDirectories, triple: triple,
            packageRoot: headers.packageRoot)
        let (model, files) = try selection.generate()
        let root = headers.packageRoot
        let stale = AtomicWriter.differences(files, under: root)
        let leftovers = AtomicWriter.leftovers(
            files, in: BindingsGenerator.generatedDirectories(architecture: triple.architecture), under: root)
        guard stale.isEmpty && leftovers.isEmpty else {
            throw .stale(
                "the committed \(triple.architecture) bindings are stale:\n"
                    + (stale.map { "  \($0)" } + leftovers.map { "  \($0) (no longer generated: remove it)" })
                    .joined(separator: "\n")
                    + "\nfix with: \(selection.regenerateCommand)")
        }
        print("kvm-bindgen: \(files.count) files up to date (\(model.header.set), \(model.triple.triple))")
    }

    /// The headers the committed manifest names, so that a bare `check` checks what is committed: its pinned
    /// set, or the include directories of a `--include` generation (`custom`); neither for `host`.
    private func committedSource(architecture: String) -> (set: String?, includeDirectories: [String]) {
        let path = headers.packageRoot + "/" + BindingsGenerator.sourcesDirectory(architecture: architecture)
            + "/KVMBindings.manifest.json"
        guard let data = FileManager.default.contents(atPath: path), let manifest = try? BindingsManifest.decode(data) else {
            return (nil, [])
        }
        switch manifest.header.set {
        case "host": return (nil, [])
        case "custom": return (nil, manifest.includeDirectories ?? [])
        default: return (manifest.header.set, [])
        }
    }
}
