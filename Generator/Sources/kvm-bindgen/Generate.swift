import ArgumentParser
import BindgenCore
import Foundation

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parse the KVM headers and write the Swift bindings, manifest and layout table.")

    @OptionGroup var headers: HeaderSetOptions

    func run() throws {
        do {
            let resolved = try headers.resolve()
            let model = try resolved.parser.parse()
            let files = try BindingsGenerator(
                model: model, includeDirectoryForManifest: resolved.includeDirectoryForManifest,
                regenerateCommand: resolved.regenerateCommand
            ).generate(headerLines: resolved.mainHeaderLines)
            try AtomicWriter.write(files, under: headers.packageRoot)
            print("kvm-bindgen: \(model.records.count) structs, \(model.ioctls.count) ioctls, \(model.constants.count) constants "
                + "(\(model.skipped.count) macros not bound for \(model.triple.triple)) → \(files.count) files")
        } catch let error as BindgenError {
            throw ValidationFailure(error.description)
        }
    }
}

/// A failure reported as one clear message and a non-zero exit.
struct ValidationFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
