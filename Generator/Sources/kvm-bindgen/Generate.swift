import ArgumentParser
import BindgenCore
import Foundation

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parse the KVM headers and write the Swift bindings, manifest and layout table.")

    @OptionGroup var headers: HeaderSetOptions

    func run() throws {
        do {
            let (model, files) = try headers.resolve().generate()
            try AtomicWriter.write(files, under: headers.packageRoot)
            // The architecture's generated folders hold only what this run wrote (a renamed file goes).
            let leftovers = AtomicWriter.leftovers(
                files, in: BindingsGenerator.generatedDirectories(architecture: model.triple.architecture), under: headers.packageRoot)
            for path in leftovers {
                try AtomicWriter.remove(path, under: headers.packageRoot)
                print("kvm-bindgen: removed \(path) (no longer generated)")
            }
            print("kvm-bindgen: \(model.records.count) structs, \(model.ioctls.count) ioctls, \(model.constants.count) constants "
                + "(\(model.skipped.count) declarations not bound for \(model.triple.triple)) → \(files.count) files")
        } catch {
            throw ValidationFailure(error.description)
        }
    }
}

/// A failure reported as one clear message and a non-zero exit.
struct ValidationFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
