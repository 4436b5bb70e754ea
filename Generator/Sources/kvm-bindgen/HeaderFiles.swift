import ArgumentParser
import BindgenCore

/// `kvm-bindgen header-files`: the files clang opens to parse `linux/kvm.h` for a target, each with its
/// sha256, and their combined checksum. `headers/fetch.sh` uses it to decide what a pinned set holds.
struct HeaderFiles: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "header-files",
        abstract: "List the header files the bindings depend on (what clang opens for linux/kvm.h), with sha256.",
        discussion: """
            One line per file, `SHA256  PATH` as sha256sum prints it (PATH relative to the include directory), \
            then `total SHA256`: the checksum the manifest and headers/sets.json record.
            """)

    @OptionGroup var headers: HeaderSetOptions

    func run() throws {
        do {
            let model = try headers.resolve().parser.parse()
            for file in model.header.files { print("\(file.sha256)  \(file.path)") }
            print("total \(model.header.sha256)")
        } catch let error as BindgenError {
            throw ValidationFailure(error.description)
        }
    }
}
