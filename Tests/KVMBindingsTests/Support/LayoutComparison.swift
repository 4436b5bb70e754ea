/// A disagreement between the manifest and what a compiler measured.
struct LayoutMismatch: Equatable, Sendable, CustomStringConvertible {
    var key: LayoutKey
    /// What the manifest says, or nil when it says nothing about this key.
    var manifest: LayoutValue?
    /// What was measured, or nil when nothing was.
    var measured: LayoutValue?
    /// "C" or "Swift".
    var side: String

    var description: String {
        switch (manifest, measured) {
        case (let expected?, let actual?):
            return "\(key): manifest \(expected), \(side) \(actual)"
        case (let expected?, nil):
            let hint =
                key.kind == .offset && side == "Swift"
                ? " (manifest says stored, but Swift has no stored property there: computed?)" : ""
            return "\(key): manifest \(expected), \(side) has no value\(hint)"
        case (nil, let actual?):
            let hint =
                switch key.kind {
                case .offset where side == "Swift": " (Swift stores it, manifest says it is not stored)"
                case .bits: " (manifest has no bit range for it: not an integer leaf?)"
                default: ""
                }
            return "\(key): manifest has no value, \(side) \(actual)\(hint)"
        case (nil, nil):
            return "\(key): no values"
        }
    }
}

enum LayoutComparison {
    /// Every key of `kinds` on which `manifest` and `measured` disagree, including keys that only
    /// one side has. Sorted by record / name, so that a report reads in header order of names.
    static func compare(
        manifest: LayoutFacts, measured: LayoutFacts, side: String,
        kinds: Set<LayoutKey.Kind> = Set(LayoutKey.Kind.allCases)
    ) -> [LayoutMismatch] {
        var mismatches: [LayoutMismatch] = []
        for key in Set(manifest.keys).union(measured.keys) where kinds.contains(key.kind) {
            let expected = manifest[key]
            let actual = measured[key]
            if expected != actual {
                mismatches.append(LayoutMismatch(key: key, manifest: expected, measured: actual, side: side))
            }
        }
        return mismatches.sorted { $0.key < $1.key }
    }

    /// For every ioctl whose request encodes an argument size (`_IOR`/`_IOW`/`_IOWR`), the manifest
    /// must name an argument, and C's `sizeof(argument)` must equal `_IOC_SIZE(request)`: so the
    /// manifest names the type the header encoded. An `_IO` request encodes nothing, and the
    /// manifest may still give the argument the kernel reads (`KVM_REINJECT_CONTROL`): not checked.
    static func ioctlArguments(_ manifest: LayoutManifest, c: LayoutFacts) -> [String] {
        var problems: [String] = []
        for ioctl in manifest.ioctls {
            guard let encoded = c[.ioctlSize, ioctl.c] else {
                problems.append("\(ioctl.c): C did not measure _IOC_SIZE")
                continue
            }
            guard encoded != .number(0) else { continue }
            guard let argument = ioctl.argument else {
                problems.append("\(ioctl.c): _IOC_SIZE is \(encoded), but the manifest gives no argument")
                continue
            }
            let size = c[.argumentSize, ioctl.c]
            if size != encoded {
                problems.append(
                    "\(ioctl.c): _IOC_SIZE is \(encoded), but the manifest's argument '\(argument)' has C sizeof "
                        + "\(size?.description ?? "unknown")")
            }
        }
        return problems
    }

    /// Names present on one side only, and names listed twice.
    static func coverage(manifest: LayoutManifest, table: SwiftLayoutTable) -> [String] {
        var problems: [String] = []
        problems += differences(
            "records", manifest: manifest.structs.map(\.c), swift: table.records.map(\.c))
        let tableRecords = Dictionary(table.records.map { ($0.c, $0) }, uniquingKeysWith: { first, _ in first })
        for record in manifest.structs {
            guard let probe = tableRecords[record.c] else { continue }
            problems += differences(
                "fields of \(record.c)", manifest: record.fields.map(\.c), swift: probe.fields.map(\.c))
        }
        problems += differences("ioctls", manifest: manifest.ioctls.map(\.c), swift: table.ioctls.map(\.0))
        // A name may stand for two constants (an enumerator and a macro that expands to it,
        // `KVM_DEV_TYPE_VFIO`): constants are compared as multisets, and must agree in value.
        problems += countDifferences(
            "constants", manifest: manifest.constants.map(\.c), swift: table.constants.map(\.0))
        problems += conflictingValues("constants in the manifest", manifest.constants.map { ($0.c, $0.value) })
        problems += conflictingValues("constants in the Swift table", table.constants)
        return problems
    }

    /// Names whose number of entries differs between the two lists.
    static func countDifferences(
        _ what: String, manifest: [String], swift: [String], sides: (String, String) = ("manifest", "Swift table")
    ) -> [String] {
        let left = Dictionary(manifest.map { ($0, 1) }, uniquingKeysWith: +)
        let right = Dictionary(swift.map { ($0, 1) }, uniquingKeysWith: +)
        var onlyLeft: [String] = []
        var onlyRight: [String] = []
        var counts: [String] = []
        for name in Set(left.keys).union(right.keys).sorted() {
            switch (left[name] ?? 0, right[name] ?? 0) {
            case (let l, let r) where l == r: continue
            case (_, 0): onlyLeft.append(name)
            case (0, _): onlyRight.append(name)
            case (let l, let r): counts.append("\(name) (\(l) in the \(sides.0), \(r) in the \(sides.1))")
            }
        }
        var problems: [String] = []
        if !onlyLeft.isEmpty {
            problems.append("\(what): only in the \(sides.0) (\(onlyLeft.count)): \(onlyLeft.joined(separator: ", "))")
        }
        if !onlyRight.isEmpty {
            problems.append("\(what): only in the \(sides.1) (\(onlyRight.count)): \(onlyRight.joined(separator: ", "))")
        }
        if !counts.isEmpty {
            problems.append("\(what): listed a different number of times: \(counts.joined(separator: ", "))")
        }
        return problems
    }

    /// Names listed more than once with different values.
    static func conflictingValues(_ what: String, _ entries: [(String, Int128)]) -> [String] {
        var values: [String: Set<Int128>] = [:]
        for (name, value) in entries { values[name, default: []].insert(value) }
        return values.filter { $0.value.count > 1 }.keys.sorted().map { name in
            "\(what): \(name) has several values: \(values[name]!.sorted().map { "\($0)" }.joined(separator: ", "))"
        }
    }

    static func differences(_ what: String, manifest: [String], swift: [String], sides: (String, String) = ("manifest", "Swift table")) -> [String] {
        var problems: [String] = []
        for (side, names) in [(sides.0, manifest), (sides.1, swift)] {
            let repeated = duplicates(names)
            if !repeated.isEmpty { problems.append("\(what): listed twice in the \(side): \(repeated.joined(separator: ", "))") }
        }
        let left = Set(manifest)
        let right = Set(swift)
        let onlyLeft = left.subtracting(right).sorted()
        let onlyRight = right.subtracting(left).sorted()
        if !onlyLeft.isEmpty {
            problems.append("\(what): only in the \(sides.0) (\(onlyLeft.count)): \(onlyLeft.joined(separator: ", "))")
        }
        if !onlyRight.isEmpty {
            problems.append("\(what): only in the \(sides.1) (\(onlyRight.count)): \(onlyRight.joined(separator: ", "))")
        }
        return problems
    }

    static func duplicates(_ names: [String]) -> [String] {
        var seen = Set<String>()
        var repeated = Set<String>()
        for name in names where !seen.insert(name).inserted { repeated.insert(name) }
        return repeated.sorted()
    }
}
