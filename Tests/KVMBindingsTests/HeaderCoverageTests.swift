import Foundation
import Testing

/// Does the manifest account for everything the headers define? Checked against a textual scan of
/// `linux/kvm.h` and `asm/kvm.h` (`HeaderScan`), independent of libclang.
#if arch(x86_64)
@Suite("Header coverage: x86_64")
struct HeaderCoverageTests {
    static func scan() throws -> (LayoutManifest, HeaderScan) {
        let context = try OracleCache.x86_64.get()
        return (context.manifest, try HeaderScan.scan(files: context.boundHeaders))
    }

    @Test("every tagged struct and union of the headers is in the manifest")
    func records() throws {
        let (manifest, scan) = try Self.scan()
        for problem in LayoutComparison.differences(
            "records", manifest: manifest.structs.map(\.c), swift: scan.records.sorted(), sides: ("manifest", "headers"))
        {
            Issue.record("\(problem)")
        }
    }

    @Test("every member of every record is in the manifest (as clang lists them)")
    func members() throws {
        let context = try OracleCache.x86_64.get()
        let dump = try RecordLayoutDump.dump(
            header: context.manifest.header.path, includeDirectory: context.includeDirectory, triple: context.manifest.triple)
        var compared = 0
        for record in context.manifest.structs {
            guard let members = dump.members(of: record.c) else {
                Issue.record("\(record.c): clang dumped no such record")
                continue
            }
            // The manifest's flexible array is clang's, or a member holding them (a union of flexible
            // arrays, `kvm_nested_state.data`), which is then not a field.
            let flexible = record.flexibleArray?.c
            let fields = members.fields.filter { designator in
                flexible.map { designator != $0 && !designator.hasPrefix($0 + ".") } ?? true
            }
            compared += fields.count
            for problem in LayoutComparison.differences(
                "fields of \(record.c)", manifest: record.fields.map(\.c), swift: fields, sides: ("manifest", "clang"))
            {
                Issue.record("\(problem)")
            }
            for designator in members.flexibleArrays
            where designator != flexible && !(flexible.map { designator.hasPrefix($0 + ".") } ?? false) {
                Issue.record("\(record.c): flexible array member \(designator) is not the manifest's (\(flexible ?? "none"))")
            }
            if let flexible, members.flexibleArrays.isEmpty {
                Issue.record("\(record.c): the manifest has flexible array \(flexible), clang has none")
            }
        }
        #expect(compared > 0)
    }

    @Test("every ioctl macro is bound or skipped")
    func ioctls() throws {
        let (manifest, scan) = try Self.scan()
        let listed = manifest.ioctls.map(\.c) + manifest.skipped.filter { $0.kind == .ioctl }.map(\.c)
        for problem in LayoutComparison.differences(
            "ioctls (bound + skipped)", manifest: listed, swift: scan.ioctls.sorted(), sides: ("manifest", "headers"))
        {
            Issue.record("\(problem)")
        }
    }

    @Test("every object-like macro and enumerator is bound or skipped")
    func constants() throws {
        let (manifest, scan) = try Self.scan()
        // An enumerator and a macro of the same name (`#define KVM_DEV_TYPE_VFIO KVM_DEV_TYPE_VFIO`)
        // are two constants: the manifest lists the name twice. A macro defined in two `#if`
        // branches (`KVM_DIRTY_LOG_PAGE_OFFSET`) is one.
        let listed = manifest.constants.map(\.c) + manifest.skipped.filter { $0.kind == .constant }.map(\.c)
        for problem in LayoutComparison.countDifferences(
            "constants (bound + skipped)", manifest: listed, swift: scan.macros.sorted() + scan.enumerators.sorted(),
            sides: ("manifest", "headers"))
        {
            Issue.record("\(problem)")
        }
    }
}
#endif
