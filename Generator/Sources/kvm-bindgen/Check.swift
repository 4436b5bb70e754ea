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
        let committed = committedSet(architecture: triple.architecture)
        let selection = try HeaderSelection(
            set: headers.set ?? (headers.includeDirectories.isEmpty ? committed : nil),
            includeDirectories: headers.includeDirectories, triple: triple, packageRoot: headers.packageRoot)
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

    /// The set named in the committed manifest, so that a bare `check` checks what is committed.
    private func committedSet(architecture: String) -> String? {
        let path = headers.packageRoot + "/" + BindingsGenerator.sourcesDirectory(architecture: architecture)
            + "/KVMBindings.manifest.json"
        guard let data = FileManager.default.contents(atPath: path),
            let set = try? BindingsManifest.decode(data).header.set, !["host", "custom"].contains(set)
        else { return nil }
        return set
    }
}
