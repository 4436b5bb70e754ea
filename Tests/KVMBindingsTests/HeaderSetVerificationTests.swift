import BindgenCore
import Foundation
import Testing

/// The layout oracle for every pinned header set × architecture of `headers/sets.json`, each
/// generated afresh (`PairVerification`): (a) `clang -target <triple> -fsyntax-only` proves every
/// size, alignment, offset, request number and constant of the manifest with `_Static_assert`s;
/// (b) the generated Swift compiles on this host; (c) the independent header scan and clang's
/// record dump list what the manifest lists. Unavailable pairs and pairs not fetched are skipped
/// with the reason (`Scripts/test.sh` fetches them all).
@Suite("Layout oracle: every pinned header set × architecture")
struct HeaderSetVerificationTests {
    @Test("headers/sets.json lists the pinned pairs")
    func pinnedPairs() throws {
        let pairs = try PinnedHeaderSets.pairs()
        #expect(!pairs.isEmpty)
        #expect(Set(pairs).count == pairs.count)
        #expect(pairs.map(\.architecture).contains("x86_64"))
    }

    /// The committed tree is exactly what sets.json pins: no file missing, none extra, every sha256 equal;
    /// and a committed manifest generated from the set records the same checksum.
    @Test("the committed pinned tree holds exactly the files sets.json lists", arguments: PinnedHeaderSets.all)
    func pinnedTree(_ pair: PinnedPair) throws {
        guard pair.unavailableReason == nil else { try Test.cancel("\(pair.testDescription): not available") }
        let root = PackageLocation.root()
        let include = pair.includeDirectory(root: root)
        let pinned = try PinnedHeaderSets.pinnedFiles(pair, root: root)
        #expect(!pinned.files.isEmpty, "sets.json lists no files for \(pair.testDescription)")
        var found: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(at: include, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = enumerator?.nextObject() as? URL {
            guard (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true else { continue }
            let relative = String(url.path.dropFirst(include.path.count + 1))
            found[relative] = SHA256.hexDigest(try Data(contentsOf: url))
        }
        #expect(found == pinned.files, "headers/sets/\(pair.set)/\(pair.architecture)/include differs from sets.json")
        let lines = pinned.files.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
            .map { "\($0.value)  \($0.key)\n" }.joined()
        #expect(SHA256.hexDigest(Array(lines.utf8)) == pinned.sha256, "sets.json's sha256 is not the checksum of its files")
        let manifestURL = PackageLocation.manifest(architecture: pair.architecture, root: root)
        if let data = try? Data(contentsOf: manifestURL), let manifest = try? LayoutManifest.decode(data), manifest.header.set == pair.set {
            #expect(manifest.header.sha256 == pinned.sha256, "the committed \(pair.architecture) manifest was generated from other files")
        }
    }

    @Test("clang -target agrees with the manifest (compile-only probe)", arguments: PinnedHeaderSets.all)
    func layout(_ pair: PinnedPair) throws {
        for problem in try Self.report(pair).layout { Issue.record("\(pair.testDescription): \(problem)") }
    }

    @Test("the generated Swift compiles on this host", arguments: PinnedHeaderSets.all)
    func swiftCompiles(_ pair: PinnedPair) throws {
        for problem in try Self.report(pair).swift { Issue.record("\(pair.testDescription): \(problem)") }
    }

    @Test("the header scan and clang's record dump find what the manifest lists", arguments: PinnedHeaderSets.all)
    func coverage(_ pair: PinnedPair) throws {
        for problem in try Self.report(pair).coverage { Issue.record("\(pair.testDescription): \(problem)") }
    }

    static func report(_ pair: PinnedPair) throws -> PairReport {
        if let reason = PairVerification.skipReason(pair, root: PackageLocation.root()) {
            try Test.cancel("\(pair.testDescription): \(reason)")
        }
        guard let report = PairVerification.reports[pair] else {
            throw CProbeDriver.Failure(description: "\(pair.testDescription) was not verified")
        }
        return try report.get()
    }
}
