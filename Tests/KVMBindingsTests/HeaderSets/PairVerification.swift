import BindgenCore
import Foundation
import Synchronization

/// What the per-architecture oracle found for one pinned set × architecture, generated afresh.
struct PairReport: Sendable {
    /// `104 structs, 118 ioctls, 609 constants`.
    var summary: String
    /// (a) `clang -target <triple>` over the set's headers against every number of the manifest.
    var layout: [String]
    /// (b) the generated Swift compiled on this host.
    var swift: [String]
    /// (c) the header scan and clang's record dump against the manifest's lists.
    var coverage: [String]
    /// Wall-clock seconds of each step, for the log.
    var timings: [(step: String, seconds: Double)]
}

/// Generates every available, fetched pair into a temporary package root and verifies it. All pairs
/// are verified once, concurrently (the work is mostly compilers in subprocesses), and the reports
/// are shared by the tests that assert on them.
enum PairVerification {
    static let reports: [PinnedPair: Result<PairReport, CProbeDriver.Failure>] = verifyAll()

    /// libclang runs one generation at a time; the compilers run in parallel.
    private static let generation = NSLock()

    static func verifyAll(root: URL = PackageLocation.root()) -> [PinnedPair: Result<PairReport, CProbeDriver.Failure>] {
        let pairs = PinnedHeaderSets.all.filter { $0.unavailableReason == nil }
        for pair in PinnedHeaderSets.all where !pairs.contains(pair) {
            print("header sets: \(pair.testDescription) skipped: \(skipReason(pair, root: root) ?? "")")
        }
        let results = Mutex<[PinnedPair: Result<PairReport, CProbeDriver.Failure>]>([:])
        let start = Date()
        // One clang module cache for every swiftc run (Glibc and SystemPackage's CSystem are built once).
        let moduleCache = FileManager.default.temporaryDirectory.appendingPathComponent("kvm-header-sets-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: moduleCache) }
        DispatchQueue.concurrentPerform(iterations: pairs.count) { index in
            let pair = pairs[index]
            let result = Result { try verify(pair, root: root, moduleCache: moduleCache) }
                .mapError { error in error as? CProbeDriver.Failure ?? CProbeDriver.Failure(description: "\(error)") }
            results.withLock { $0[pair] = result }
        }
        let reports = results.withLock { $0 }
        for pair in pairs {
            guard case .success(let report)? = reports[pair] else { continue }
            let timings = report.timings.map { "\($0.step) \(String(format: "%.1f", $0.seconds)) s" }.joined(separator: ", ")
            print("header sets: \(pair.testDescription): \(report.summary); \(timings)")
        }
        print("header sets: verified \(pairs.count) pairs in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        return reports
    }

    /// Why a pair is not verified: unavailable in sets.json. (A pinned tree missing from the checkout is a
    /// failure: the sets are committed.)
    static func skipReason(_ pair: PinnedPair, root: URL) -> String? {
        pair.unavailableReason.map { "not available (\($0))" }
    }

    static func verify(_ pair: PinnedPair, root: URL, moduleCache: URL) throws -> PairReport {
        var timings: [(step: String, seconds: Double)] = []
        func timed<T>(_ step: String, _ body: () throws -> T) rethrows -> T {
            let start = Date()
            defer { timings.append((step, Date().timeIntervalSince(start))) }
            return try body()
        }
        let work = try ProcessRunner.temporaryDirectory(prefix: "kvm-header-set-\(pair.set)-\(pair.architecture)")
        defer { try? FileManager.default.removeItem(at: work) }
        let triple = try TargetTriple.named(pair.architecture)
        let files = try timed("generate") {
            try generation.withLock { try HeaderSelection(set: pair.set, triple: triple, packageRoot: root.path).generate().files }
        }
        let generatedRoot = work.appendingPathComponent("package")
        try AtomicWriter.write(files, under: generatedRoot.path)
        let manifest = try LayoutManifest.load(
            from: generatedRoot.appendingPathComponent(BindingsGenerator.sourcesDirectory(architecture: pair.architecture))
                .appendingPathComponent("KVMBindings.manifest.json"))
        let includeDirectory = pair.includeDirectory(root: root)

        var layout = CProbeSource.checks(for: manifest).problems
        if manifest.architecture != pair.architecture || manifest.triple != triple.triple {
            layout.append("manifest is for \(manifest.architecture) (\(manifest.triple)), not \(pair.architecture)")
        }
        let statically = try timed("clang") { try CProbeDriver.checkStatically(manifest, includeDirectory: includeDirectory) }
        layout += statically.failures.map(\.description) + statically.otherErrors

        let swift = try timed("swiftc") {
            try SwiftTypeCheck.check(
                generatedRoot: generatedRoot, architecture: pair.architecture, swiftArchitecture: triple.swiftArchitecture,
                packageRoot: root, work: work.appendingPathComponent("swift"), moduleCache: moduleCache)
        }
        let coverage = try timed("coverage") { try HeaderCoverage(manifest: manifest, includeDirectory: includeDirectory).problems() }
        return PairReport(
            summary: "\(manifest.structs.count) structs, \(manifest.ioctls.count) ioctls, \(manifest.constants.count) constants",
            layout: layout, swift: swift, coverage: coverage, timings: timings)
    }
}
