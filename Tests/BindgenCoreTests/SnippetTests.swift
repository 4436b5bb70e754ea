import BindgenCore
import Foundation
import Testing

/// Snippet tests: a small C header in, the expected Swift out, for each construct the generator handles.
/// Set `KVM_BINDGEN_UPDATE_SNIPPETS=1` to rewrite the `.expected.swift` files after a deliberate change.
@Suite struct SnippetTests {
    static let snippets = ["union", "anonymous", "bitfield", "packed", "flexible", "gnu", "arrays", "keywords", "comments", "ioctls"]

    @Test(arguments: snippets)
    func snippetProducesExpectedSwift(name: String) throws {
        let directory = SnippetHarness.snippetsDirectory
        let header = try String(contentsOfFile: "\(directory)/\(name).h", encoding: .utf8)
        let generated = SnippetHarness.swiftText(of: try SnippetHarness.generate(header: header))
        let expectedPath = "\(directory)/\(name).expected.swift"
        if ProcessInfo.processInfo.environment["KVM_BINDGEN_UPDATE_SNIPPETS"] == "1" {
            try generated.write(toFile: expectedPath, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOfFile: expectedPath, encoding: .utf8)
        #expect(generated == expected, "\(name).h: generated Swift differs from \(name).expected.swift")
    }

    @Test func generationIsDeterministic() throws {
        let header = try String(contentsOfFile: "\(SnippetHarness.snippetsDirectory)/anonymous.h", encoding: .utf8)
        let first = try SnippetHarness.generate(header: header)
        let second = try SnippetHarness.generate(header: header)
        #expect(first == second)
    }
}
