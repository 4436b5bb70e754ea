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
        let includeDirectory = manifest.includeDirectory(packageRoot: root)
        if let message = PackageLocation.missingHeadersMessage(manifest, includeDirectory: includeDirectory) {
            throw Unavailable(description: message)
        }
        return OracleContext(root: root, manifest: manifest, includeDirectory: includeDirectory)
    }
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
