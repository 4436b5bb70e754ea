import Foundation
import Testing

/// Does the committed manifest account for everything the headers define? (`HeaderCoverage`: a
/// textual scan of `linux/kvm.h` and `asm/kvm.h`, independent of libclang, and clang's record dump.)
#if arch(x86_64)
@Suite("Header coverage: x86_64")
struct HeaderCoverageTests {
    static func coverage() throws -> HeaderCoverage {
        let context = try OracleCache.x86_64.get()
        return HeaderCoverage(manifest: context.manifest, includeDirectory: context.includeDirectory)
    }

    @Test("every tagged struct and union of the headers is in the manifest")
    func records() throws {
        let coverage = try Self.coverage()
        for problem in try coverage.records(coverage.scan()) { Issue.record("\(problem)") }
    }

    @Test("every member of every record is in the manifest (as clang lists them)")
    func members() throws {
        for problem in try Self.coverage().members() { Issue.record("\(problem)") }
    }

    @Test("every ioctl macro is bound or skipped")
    func ioctls() throws {
        let coverage = try Self.coverage()
        for problem in coverage.ioctls(try coverage.scan()) { Issue.record("\(problem)") }
    }

    @Test("every object-like macro and enumerator is bound or skipped")
    func constants() throws {
        let coverage = try Self.coverage()
        for problem in coverage.constants(try coverage.scan()) { Issue.record("\(problem)") }
    }
}
#endif
