import ArgumentParser
import BindgenCore
import Foundation

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Regenerate in memory and fail if the committed bindings differ.")

    @OptionGroup var headers: HeaderSetOptions

    func run() throws {
        do {
            let resolved = try headers.resolve(defaultSet: committedSet())
            let model = try resolved.parser.parse()
            let files = try BindingsGenerator(
                model: model, includeDirectoryForManifest: resolved.includeDirectoryForManifest,
                regenerateCommand: resolved.regenerateCommand
            ).generate(headerLines: resolved.mainHeaderLines)
            let stale = AtomicWriter.differences(files, under: headers.packageRoot)
            guard stale.isEmpty else {
                throw BindgenError.stale(
                    "the committed bindings are stale:\n" + stale.map { "  \($0)" }.joined(separator: "\n")
                        + "\nfix with: \(resolved.regenerateCommand)")
            }
            print("kvm-bindgen: \(files.count) files up to date (\(model.header.set), \(model.triple.triple))")
        } catch let error as BindgenError {
            throw ValidationFailure(error.description)
        }
    }

    /// The set named in the committed manifest, so that a bare `check` checks what is committed.
    private func committedSet() -> String? {
        let architecture = (try? headers.arch.map { try TargetTriple.named($0) } ?? .host)?.architecture ?? "x86_64"
        let path = headers.packageRoot + "/" + BindingsGenerator.sourcesDirectory(architecture: architecture)
            + "/KVMBindings.manifest.json"
        guard let data = FileManager.default.contents(atPath: path),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let header = object["header"] as? [String: Any], let set = header["set"] as? String,
            !["host", "custom"].contains(set)
        else { return nil }
        return set
    }
}
