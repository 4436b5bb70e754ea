import BindgenCore
import Foundation
import Testing

/// Bad input gets one clear error and loses nothing.
@Suite struct FailureTests {
    @Test func missingHeaderIsReported() throws {
        let parser = HeaderParser(
            includeDirectories: ["/nonexistent-kvm-headers"], triple: try TargetTriple.named("x86_64"),
            headerInfo: HeaderInfo(path: "linux/kvm.h", set: "t"))
        #expect(throws: BindgenError.headerNotFound("linux/kvm.h in /nonexistent-kvm-headers")) { try parser.parse() }
    }

    @Test func clangParseErrorsAreReported() throws {
        let parser = try SnippetHarness.parser(for: "struct kvm_broken { int a }\n")
        let error = #expect(throws: BindgenError.self) { try parser.parse() }
        let description = error.map { String(describing: $0) } ?? ""
        #expect(description.hasPrefix("clang failed to parse the header"))
        #expect(description.contains("kvm.h:1:"), "the message points at the line: \(description)")
    }

    @Test func unknownTripleIsReported() {
        #expect(throws: BindgenError.unknownTriple("sparc64-sun-solaris")) { try TargetTriple.named("sparc64-sun-solaris") }
        #expect(BindgenError.unknownTriple("x").description.contains("x86_64-unknown-linux-gnu"))
    }

    @Test func failedWriteLeavesPreviousFilesUntouched() throws {
        let root = try SnippetHarness.temporaryDirectory()
        try "old".write(toFile: root + "/first.swift", atomically: true, encoding: .utf8)
        try "a file where a directory should be".write(toFile: root + "/blocked", atomically: true, encoding: .utf8)
        let files = [
            GeneratedFile(path: "first.swift", contents: "new"),
            GeneratedFile(path: "blocked/second.swift", contents: "new"),
        ]
        #expect(throws: BindgenError.self) { try AtomicWriter.write(files, under: root) }
        #expect(try String(contentsOfFile: root + "/first.swift", encoding: .utf8) == "old")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.contains("kvm-bindgen-") }
        #expect(leftovers.isEmpty, "no temporary files are left behind: \(leftovers)")
    }

    @Test func checkFindsStaleFiles() throws {
        let root = try SnippetHarness.temporaryDirectory()
        let files = [GeneratedFile(path: "a.swift", contents: "one"), GeneratedFile(path: "b.swift", contents: "two")]
        try AtomicWriter.write(files, under: root)
        #expect(AtomicWriter.differences(files, under: root).isEmpty)
        try "edited".write(toFile: root + "/b.swift", atomically: true, encoding: .utf8)
        #expect(AtomicWriter.differences(files, under: root) == ["b.swift"])
    }

    @Test func checkFindsLeftoverFiles() throws {
        let root = try SnippetHarness.temporaryDirectory()
        let files = [GeneratedFile(path: "Generated/x86_64/Constants.x86_64.swift", contents: "one")]
        try AtomicWriter.write(files + [GeneratedFile(path: "Generated/x86_64/Constants.swift", contents: "old name")], under: root)
        #expect(AtomicWriter.leftovers(files, in: ["Generated/x86_64", "Generated/none"], under: root) == ["Generated/x86_64/Constants.swift"])
        try AtomicWriter.remove("Generated/x86_64/Constants.swift", under: root)
        #expect(AtomicWriter.leftovers(files, in: ["Generated/x86_64"], under: root).isEmpty)
    }

    @Test func sha256MatchesCoreutils() {
        #expect(SHA256.hexDigest(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hexDigest(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array(repeating: UInt8(ascii: "a"), count: 1000)
        #expect(SHA256.hexDigest(long) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}
