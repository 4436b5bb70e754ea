/// A clang target triple the generator supports, with the names other tools use for it.
public struct TargetTriple: Codable, Equatable, Sendable {
    public let triple: String
    /// Folder name under `headers/sets/<set>/` and `Generated/`.
    public let architecture: String
    /// The `#if arch(...)` condition Swift uses for it.
    public let swiftArchitecture: String

    public static let all: [TargetTriple] = [
        TargetTriple(triple: "x86_64-unknown-linux-gnu", architecture: "x86_64", swiftArchitecture: "x86_64"),
        TargetTriple(triple: "aarch64-unknown-linux-gnu", architecture: "arm64", swiftArchitecture: "arm64"),
        TargetTriple(triple: "riscv64-unknown-linux-gnu", architecture: "riscv64", swiftArchitecture: "riscv64"),
    ]
    public static var supported: [String] { all.map(\.triple) }

    /// Looks a triple up by its full spelling or its architecture name.
    public static func named(_ name: String) throws(BindgenError) -> TargetTriple {
        guard let match = all.first(where: { $0.triple == name || $0.architecture == name }) else {
            throw .unknownTriple(name)
        }
        return match
    }

    /// The triple of the machine running the generator.
    public static var host: TargetTriple {
        #if arch(x86_64)
        all[0]
        #elseif arch(arm64)
        all[1]
        #else
        all[2]
        #endif
    }
}
