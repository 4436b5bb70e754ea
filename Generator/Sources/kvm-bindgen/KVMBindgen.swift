import ArgumentParser

@main
struct KVMBindgen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kvm-bindgen",
        abstract: "Generates typed Swift bindings for linux/kvm.h with libclang.",
        subcommands: [Generate.self, Check.self, Diff.self, DumpModel.self, HeaderFiles.self]
    )
}
