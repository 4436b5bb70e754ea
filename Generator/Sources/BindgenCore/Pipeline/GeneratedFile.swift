import Foundation

/// One output file: a path relative to the package root and its full contents.
public struct GeneratedFile: Equatable, Sendable {
    public var path: String
    public var contents: String

    public init(path: String, contents: String) {
        self.path = path
        self.contents = contents
    }
}

/// Writes generated files so that a failure never leaves half a file: every file is first written in
/// full next to its destination, and only when all are written are they renamed into place.
public enum AtomicWriter {
    public static func write(_ files: [GeneratedFile], under root: String) throws(BindgenError) {
        let manager = FileManager.default
        var staged: [(temporary: String, destination: String)] = []
        do {
            for file in files {
                let destination = root + "/" + file.path
                let directory = (destination as NSString).deletingLastPathComponent
                try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let temporary = directory + "/.\((destination as NSString).lastPathComponent).kvm-bindgen-\(getpid())"
                guard manager.createFile(atPath: temporary, contents: Data(file.contents.utf8)) else {
                    throw BindgenError.outputFailed("cannot write \(temporary)")
                }
                staged.append((temporary, destination))
            }
            for (temporary, destination) in staged where rename(temporary, destination) != 0 {
                throw BindgenError.outputFailed("cannot move \(temporary) to \(destination): \(String(cString: strerror(errno)))")
            }
        } catch {
            for (temporary, _) in staged { try? manager.removeItem(atPath: temporary) }
            if let error = error as? BindgenError { throw error }
            throw .outputFailed(String(describing: error))
        }
    }

    /// Files under `directories` (relative to `root`) that `files` does not contain: left over from an
    /// earlier generation (the generated directories hold nothing else).
    public static func leftovers(_ files: [GeneratedFile], in directories: [String], under root: String) -> [String] {
        let generated = Set(files.map(\.path))
        return directories.flatMap { directory in
            ((try? FileManager.default.contentsOfDirectory(atPath: root + "/" + directory)) ?? [])
                .filter { !$0.hasPrefix(".") }.map { directory + "/" + $0 }
        }.filter { !generated.contains($0) }.sorted()
    }

    /// Removes a file left over from an earlier generation.
    public static func remove(_ path: String, under root: String) throws(BindgenError) {
        do {
            try FileManager.default.removeItem(atPath: root + "/" + path)
        } catch {
            throw .outputFailed("cannot remove \(root)/\(path): \(error)")
        }
    }

    /// The paths among `files` whose contents on disk differ from the generated ones (or are missing).
    public static func differences(_ files: [GeneratedFile], under root: String) -> [String] {
        files.filter { file in
            let existing = FileManager.default.contents(atPath: root + "/" + file.path)
            return existing != Data(file.contents.utf8)
        }.map(\.path)
    }
}
