import Foundation
import PackagePlugin

/// `swift package regenerate-kvm-bindings [--kernel V | --set NAME] [--arch A]`: regenerates the committed
/// bindings from a pinned header set (committed under headers/sets) with kvm-bindgen. Downloads nothing.
/// Asks for permission to write to the package.
@main
struct RegenerateKVMBindings: CommandPlugin {
    /// Kernel versions of headers/sets.json, for `--kernel`.
    static let setsByKernel = ["5.10": "bullseye", "6.1": "bookworm", "6.12": "trixie", "7": "sid"]

    func performCommand(context: PluginContext, arguments: [String]) async throws {
        var extractor = ArgumentExtractor(arguments)
        let kernel = extractor.extractOption(named: "kernel").last
        var set = extractor.extractOption(named: "set").last ?? "trixie"
        let architecture = extractor.extractOption(named: "arch").last ?? "x86_64"
        if let kernel {
            let key = Self.setsByKernel.keys.sorted { $0.count > $1.count }.first { kernel.hasPrefix($0) }
            guard let key, let match = Self.setsByKernel[key] else {
                throw PluginError("no pinned header set for kernel \(kernel); known: \(Self.setsByKernel.keys.sorted())")
            }
            set = match
        }
        let root = context.package.directoryURL
        let tool = try context.tool(named: "kvm-bindgen")
        try run(tool.url, ["generate", "--set", set, "--arch", architecture, "--package-root", root.path], in: root)
    }

    private func run(_ executable: URL, _ arguments: [String], in directory: URL) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PluginError("\(executable.lastPathComponent) \(arguments.joined(separator: " ")) failed (\(process.terminationStatus))")
        }
    }
}

struct PluginError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
