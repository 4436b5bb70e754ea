import Foundation

/// Where the package and its generated files are.
enum PackageLocation {
    /// The package root: the nearest folder above this file that holds `Package.swift`.
    static func root(filePath: String = #filePath) -> URL {
        var directory = URL(fileURLWithPath: filePath).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                return directory
            }
            directory = directory.deletingLastPathComponent()
        }
        fatalError("no Package.swift above \(filePath)")
    }

    static func manifest(architecture: String, root: URL = root()) -> URL {
        root.appendingPathComponent("Sources/KVMBindings/Generated/\(architecture)/KVMBindings.manifest.json")
    }

    /// `headers/sets/<set>/<arch>/include`, when the manifest's include directory is one of those.
    /// Returns the message to fail with when the folder is missing.
    static func missingHeadersMessage(_ manifest: LayoutManifest, includeDirectory: URL) -> String? {
        guard !FileManager.default.fileExists(atPath: includeDirectory.appendingPathComponent(manifest.header.path).path)
        else { return nil }
        if manifest.header.set == "host" {
            return "host headers missing: \(includeDirectory.path)/\(manifest.header.path) does not exist"
        }
        let architecture = includeDirectory.deletingLastPathComponent().lastPathComponent
        return "header set missing: headers/sets/\(manifest.header.set)/\(architecture)/include is committed with the "
            + "package; restore it with git (headers/fetch.sh imports sets that are not pinned yet)"
    }
}
