import BindgenCore
import Foundation
import Testing

/// The compile-only variant of the C probe (`_Static_assert`s, `clang -target … -fsyntax-only`),
/// meant for architectures this machine cannot run; checked here against the x86_64 manifest with
/// the host's clang.
@Suite("Layout oracle: compile-only probe")
struct StaticAssertProbeTests {
    #if arch(x86_64)
    @Test("the x86_64 manifest holds as static assertions for x86_64-unknown-linux-gnu")
    func x86_64Manifest() throws {
        let context = try OracleCache.x86_64.get()
        let report = try CProbeDriver.checkStatically(context.manifest, includeDirectory: context.includeDirectory)
        for failure in report.failures { Issue.record("\(failure)") }
        for error in report.otherErrors { Issue.record("\(error)") }
    }

    /// What a user who regenerates for their own kernel gets: bindings generated from the running system's
    /// `/usr/include` (asm/ in its multiarch folder) hold as static assertions, like a pinned set's.
    @Test("bindings generated with --include /usr/include pass the compile-only probe")
    func systemHeaders() throws {
        guard FileManager.default.fileExists(atPath: "/usr/include/linux/kvm.h") else {
            try Test.cancel("no /usr/include/linux/kvm.h (Debian's linux-libc-dev)")
        }
        let selection = try HeaderSelection(
            set: nil, includeDirectories: ["/usr/include"], triple: try TargetTriple.named("x86_64"), packageRoot: "/nonexistent")
        let files = try selection.generate().files
        let manifestFile = try #require(files.first { $0.path.hasSuffix("KVMBindings.manifest.json") })
        let manifest = try LayoutManifest.decode(Data(manifestFile.contents.utf8))
        #expect(manifest.header.set == "custom" && manifest.includeDirectories == ["/usr/include"])
        let include = OracleContext.searchDirectory(for: manifest, packageRoot: URL(fileURLWithPath: "/nonexistent"))
        let report = try CProbeDriver.checkStatically(manifest, includeDirectory: include)
        #expect(report.failures.isEmpty && report.otherErrors.isEmpty, "\(report.failures.prefix(3)) \(report.otherErrors.prefix(3))")
        #expect(!manifest.structs.isEmpty && !manifest.ioctls.isEmpty)
    }

    @Test("a wrong number is reported with the value clang computed")
    func wrongNumbers() throws {
        let context = try OracleCache.x86_64.get()
        var manifest = context.manifest
        try #require(!manifest.structs.isEmpty && !manifest.ioctls.isEmpty && !manifest.constants.isEmpty)
        let record = manifest.structs[0]
        manifest.structs[0].size += 8
        manifest.ioctls[0].request ^= 1
        manifest.constants[0].value = -3
        var wrongField: String?
        if let index = record.fields.firstIndex(where: { !$0.isBitfield }) {
            manifest.structs[0].fields[index].offset += 1
            wrongField = record.fields[index].c
        }
        let report = try CProbeDriver.checkStatically(manifest, includeDirectory: context.includeDirectory)
        #expect(report.otherErrors == [])
        var expected: Set<LayoutKey> = [
            LayoutKey(.size, record.c), LayoutKey(.request, manifest.ioctls[0].c),
            LayoutKey(.constant, manifest.constants[0].c),
        ]
        if let wrongField { expected.insert(LayoutKey(.offset, record.c, wrongField)) }
        #expect(Set(report.failures.map(\.key)) == expected)
        let size = report.failures.first { $0.key == LayoutKey(.size, record.c) }
        #expect(size?.actual == "\(record.size)")
        #expect(size?.expected == "\(record.size + 8)")
    }
    #endif

    @Test("a field the header lacks is an error that names its assertion")
    func unknownMember() throws {
        let include = try LayoutFixture.includeDirectory()
        defer { try? FileManager.default.removeItem(at: include) }
        let source = """
            struct s { int a; };
            _Static_assert((unsigned long long)(__builtin_offsetof(struct s, b)) == 0ULL, "kvmprobe|offset|struct s|b|0");
            _Static_assert((unsigned long long)(sizeof(struct s)) == 5ULL, "kvmprobe|size|struct s|-|5");
            """
        let report = try CProbeDriver.checkStatically(source: source, includeDirectory: include, triple: "x86_64-unknown-linux-gnu")
        #expect(report.failures == [StaticAssertDiagnostics.Failure(key: LayoutKey(.size, "struct s"), expected: "5", actual: "4")])
        #expect(report.otherErrors.count == 1)
        #expect(report.otherErrors.first?.contains("[in the assertion offset|struct s|b|0]") == true)
    }
}
