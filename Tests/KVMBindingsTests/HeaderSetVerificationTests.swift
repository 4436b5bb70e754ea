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
