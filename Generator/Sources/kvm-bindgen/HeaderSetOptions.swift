import ArgumentParser
import BindgenCore

/// Which headers to bind: a pinned set committed under `headers/sets`, explicit include directories,
/// or (when neither is named) the host's `/usr/include`.
struct HeaderSetOptions: ParsableArguments {
    @Option(help: "A pinned header set from headers/sets.json (e.g. trixie).")
    var set: String?

    @Option(help: "Target architecture (x86_64, arm64, riscv64) or full clang triple. Default: the host's.")
    var arch: String?

    @Option(name: .customLong("include"), help: "Include directory to parse instead of a set (repeatable).")
    var includeDirectories: [String] = []

    @Option(help: "The package root: where headers/ is and where generated files go.")
    var packageRoot: String = "."

    var triple: TargetTriple {
        get throws(BindgenError) {
            guard let arch else { return .host }
            return try TargetTriple.named(arch)
        }
    }

    func resolve(defaultSet: String? = nil) throws(BindgenError) -> HeaderSelection {
        try HeaderSelection(
            set: set ?? (includeDirectories.isEmpty ? defaultSet : nil), includeDirectories: includeDirectories,
            triple: triple, packageRoot: packageRoot)
    }
}
