import Foundation

/// Does a manifest account for everything its headers define? Checked against a textual scan of
/// `linux/kvm.h` and `asm/kvm.h` (`HeaderScan`, independent of libclang) and against clang's own
/// record dump (`RecordLayoutDump`). Each check returns its problems, one message each.
struct HeaderCoverage {
    var manifest: LayoutManifest
    var includeDirectory: URL

    /// The headers whose every definition the manifest must cover.
    static let boundHeaders = ["linux/kvm.h", "asm/kvm.h"]

    func scan() throws -> HeaderScan {
        try HeaderScan.scan(files: Self.boundHeaders.map { includeDirectory.appendingPathComponent($0) })
    }

    /// Every problem of every check.
    func problems() throws -> [String] {
        let scan = try scan()
        return try records(scan) + members() + ioctls(scan) + constants(scan)
    }

    /// Every tagged struct and union of the bound headers is in the manifest (bound, or skipped as
    /// defined only in a block inactive for the target); a record the manifest locates in another
    /// header (arm64's `struct user_pt_regs` from `asm/ptrace.h`, held by `kvm_regs`) must be a
    /// tagged record of that header.
    func records(_ scan: HeaderScan) throws -> [String] {
        let bound = manifest.structs.filter { Self.boundHeaders.contains(headerFile(of: $0)) }
        let listed = bound.map(\.c) + manifest.skipped.filter { $0.kind == .record }.map(\.c)
        var problems = LayoutComparison.differences(
            "records (bound + skipped)", manifest: listed, swift: scan.records.sorted(), sides: ("manifest", "headers"))
        for (file, records) in Dictionary(grouping: manifest.structs.filter { !bound.map(\.c).contains($0.c) }, by: headerFile) {
            let defined = try HeaderScan.scan(files: [includeDirectory.appendingPathComponent(file)]).records
            for record in records where !defined.contains(record.c) {
                problems.append("\(record.c): the manifest locates it in \(file), which defines no such record")
            }
        }
        return problems
    }

    /// Every member of every record is in the manifest, as clang lists them.
    func members() throws -> [String] {
        let dump = try RecordLayoutDump.dump(
            header: manifest.header.path, includeDirectory: includeDirectory, triple: manifest.triple)
        var problems: [String] = []
        var compared = 0
        for record in manifest.structs {
            guard let members = dump.members(of: record.c) else {
                problems.append("\(record.c): clang dumped no such record")
                continue
            }
            // The manifest's flexible array is clang's, or a member holding them (a union of flexible
            // arrays, `kvm_nested_state.data`), which is then not a field.
            let flexible = record.flexibleArray?.c
            let fields = members.fields.filter { designator in
                flexible.map { designator != $0 && !designator.hasPrefix($0 + ".") } ?? true
            }
            compared += fields.count
            problems += LayoutComparison.differences(
                "fields of \(record.c)", manifest: record.fields.map(\.c), swift: fields, sides: ("manifest", "clang"))
            for designator in members.flexibleArrays
            where designator != flexible && !(flexible.map { designator.hasPrefix($0 + ".") } ?? false) {
                problems.append("\(record.c): flexible array member \(designator) is not the manifest's (\(flexible ?? "none"))")
            }
            if let flexible, members.flexibleArrays.isEmpty {
                problems.append("\(record.c): the manifest has flexible array \(flexible), clang has none")
            }
        }
        if compared == 0 { problems.append("no members compared: clang's dump and the manifest share no fields") }
        return problems
    }

    /// Every ioctl macro is bound or skipped.
    func ioctls(_ scan: HeaderScan) -> [String] {
        let listed = manifest.ioctls.map(\.c) + manifest.skipped.filter { $0.kind == .ioctl }.map(\.c)
        return LayoutComparison.differences(
            "ioctls (bound + skipped)", manifest: listed, swift: scan.ioctls.sorted(), sides: ("manifest", "headers"))
    }

    /// Every object-like macro and enumerator is bound or skipped. An enumerator and a macro of the
    /// same name (`#define KVM_DEV_TYPE_VFIO KVM_DEV_TYPE_VFIO`) are two constants: the manifest
    /// lists the name twice. A macro defined in two `#if` branches (`KVM_DIRTY_LOG_PAGE_OFFSET`) is one.
    func constants(_ scan: HeaderScan) -> [String] {
        let listed = manifest.constants.map(\.c) + manifest.skipped.filter { $0.kind == .constant }.map(\.c)
        return LayoutComparison.countDifferences(
            "constants (bound + skipped)", manifest: listed, swift: scan.macros.sorted() + scan.enumerators.sorted(),
            sides: ("manifest", "headers"))
    }

    /// `asm/ptrace.h` for a record located at `asm/ptrace.h:88`.
    private func headerFile(of record: LayoutManifest.Record) -> String {
        String((record.location ?? manifest.header.path).split(separator: ":").first ?? "")
    }
}
