import Foundation

/// The committed manifest of one architecture, its header set, and what the C compiler measured
/// for it; loaded once per test run and shared by the suites.
struct OracleContext: Sendable {
    var root: URL
    var manifest: LayoutManifest
    var includeDirectory: URL

    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    static func load(architecture: String) throws(Unavailable) -> OracleContext {
        let root = PackageLocation.root()
        let url = PackageLocation.manifest(architecture: architecture, root: root)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw Unavailable(description: "manifest missing: \(url.path) (run kvm-bindgen)")
        }
        let manifest: LayoutManifest
        do {
            manifest = try LayoutManifest.load(from: url)
        } catch {
            throw Unavailable(description: "manifest \(url.path) does not decode: \(error)")
        }
        let includeDirectory = searchDirectory(for: manifest, packageRoot: root)
        if let message = PackageLocation.missingHeadersMessage(manifest, includeDirectory: includeDirectory) {
            throw Unavailable(description: message)
        }
        return OracleContext(root: root, manifest: manifest, includeDirectory: includeDirectory)
    }

    /// One folder to compile the manifest's headers against, searching as the generator did: each of its
    /// include directories after that directory's multiarch folder, where it has one.
    static func searchDirectory(for manifest: LayoutManifest, packageRoot: URL) -> URL {
        let multiarch = manifest.triple.replacingOccurrences(of: "-unknown-", with: "-")
        let directories = manifest.includeDirectories(packageRoot: packageRoot).flatMap { directory in
            let folder = directory.appendingPathComponent(multiarch)
            return FileManager.default.fileExists(atPath: folder.appendingPathComponent("asm/kvm.h").path) ? [folder, directory] : [directory]
        }
        return directories.count == 1 ? directories[0] : merged(directories)
    }
}

/// One folder that searches like `directories` in order: a symbolic link to each top-level entry, the first
/// directory holding a name winning (a system's `/usr/include` keeps `asm/` in its multiarch folder), so the
/// oracle's compilers take one `-I`/`-isystem` for a manifest generated with `--include /usr/include`.
private func merged(_ directories: [URL]) -> URL {
    let merged = FileManager.default.temporaryDirectory.appendingPathComponent("kvm-oracle-include-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: merged, withIntermediateDirectories: true)
    for directory in directories {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] {
            let link = merged.appendingPathComponent(name)
            guard !FileManager.default.fileExists(atPath: link.path) else { continue }
            try? FileManager.default.createSymbolicLink(at: link, withDestinationURL: directory.appendingPathComponent(name))
        }
    }
    return merged
}

/// Shared, lazily computed results (a `static let` runs once, thread-safely).
enum OracleCache {
    static let x86_64: Result<OracleContext, OracleContext.Unavailable> = Result { () throws(OracleContext.Unavailable) in
        try OracleContext.load(architecture: "x86_64")
    }

    /// The C probe's facts for the x86_64 manifest, or why there are none.
    static let x86_64C: Result<CProbeDriver.Measurement, OracleContext.Unavailable> = x86_64.flatMap { context in
        do {
            return .success(try CProbeDriver.measure(context.manifest, includeDirectory: context.includeDirectory))
        } catch {
            return .failure(OracleContext.Unavailable(description: "\(error)"))
        }
    }
}
