import Foundation

/// Writes a `ManifestDiff` as a Markdown report or as JSON.
public enum DiffRenderer {
    public static func json(_ diff: ManifestDiff) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(diff), as: UTF8.self) + "\n"
    }

    public static func markdown(_ diff: ManifestDiff) -> String {
        var lines = [
            "# KVM API changes: \(diff.from.set) → \(diff.to.set) (\(diff.to.triple))", "",
            "From `\(diff.from.set)` (\(diff.from.triple)) to `\(diff.to.set)` (\(diff.to.triple)); headers sha256 \(diff.from.sha256.prefix(12))… → \(diff.to.sha256.prefix(12))….", "",
            "| | added | removed | changed |", "| --- | ---: | ---: | ---: |",
        ]
        func count<I, C>(_ title: String, _ section: ManifestDiff.Section<I, C>) {
            lines.append("| \(title) | \(section.added.count) | \(section.removed.count) | \(section.changed.count) |")
        }
        count("ioctls", diff.ioctls)
        count("structs", diff.structs)
        count("capabilities (`KVMCapability`)", diff.capabilities)
        count("exit reasons (`KVMExitReason`)", diff.exitReasons)
        count("other constants", diff.constants)

        section("Ioctls", diff.ioctls, into: &lines, item: ioctl) { change in
            [describe("request", change.request, hex),
             describe("direction", change.direction) { $0 },
             describe("argument", change.argument) { $0.map { "`\($0)`" } ?? "none" }].compactMap { $0 }.joined(separator: "; ")
        }
        section("Structs", diff.structs, into: &lines, item: structure) { change in
            [describe("size", change.size, String.init),
             describe("alignment", change.alignment, String.init),
             describe("flexible array", change.flexibleArray) { $0.map { "`\($0)`" } ?? "none" }].compactMap { $0 }
                .joined(separator: "; ")
        } details: { change in
            change.fieldsAdded.map { "added `\($0.name)` (\(field($0)))" }
                + change.fieldsRemoved.map { "removed `\($0.name)` (\(field($0)))" }
                + change.fieldsChanged.map { field in
                    "`\(field.name)`: "
                        + [describe("offset", field.offset, String.init),
                           describe("size", field.size) { $0.map(String.init) ?? "none" },
                           describe("bit offset", field.bitOffset) { $0.map(String.init) ?? "none" },
                           describe("bit width", field.bitWidth) { $0.map(String.init) ?? "none" }].compactMap { $0 }
                        .joined(separator: "; ")
                }
        }
        section("Capabilities (`KVMCapability`)", diff.capabilities, into: &lines, item: constant, change: constantChange)
        section("Exit reasons (`KVMExitReason`)", diff.exitReasons, into: &lines, item: constant, change: constantChange)
        section("Other constants", diff.constants, into: &lines, item: constant, change: constantChange)
        return lines.joined(separator: "\n") + "\n"
    }

    private static func section<I, C>(
        _ title: String, _ section: ManifestDiff.Section<I, C>, into lines: inout [String], item: (I) -> String,
        change: (C) -> String, details: (C) -> [String] = { _ in [] }
    ) {
        lines += ["", "## \(title)"]
        guard !section.isEmpty else {
            lines += ["", "No changes."]
            return
        }
        if !section.added.isEmpty {
            lines += ["", "Added (\(section.added.count)):", ""] + section.added.map { "- " + item($0) }
        }
        if !section.removed.isEmpty {
            lines += ["", "Removed (\(section.removed.count)):", ""] + section.removed.map { "- " + item($0) }
        }
        if !section.changed.isEmpty {
            lines += ["", "Changed (\(section.changed.count)):", ""]
            for changed in section.changed {
                let summary = change(changed)
                lines.append("- `\(changed.name)`" + (summary.isEmpty ? "" : ": " + summary))
                lines += details(changed).map { "  - " + $0 }
            }
        }
    }

    private static func ioctl(_ ioctl: ManifestDiff.Ioctl) -> String {
        "`\(ioctl.name)`: \(hex(ioctl.request)), \(ioctl.direction)" + (ioctl.argument.map { ", `\($0)`" } ?? "") + note(ioctl.skipped)
    }

    /// For an entry the other side's header declares but does not bind (the JSON has the reason).
    private static func note(_ skipped: String?) -> String {
        skipped == nil ? "" : " — declared but not bound on the other side"
    }

    private static func structure(_ structure: ManifestDiff.Struct) -> String {
        "`\(structure.name)`: size \(structure.size), alignment \(structure.alignment)" + note(structure.skipped)
    }

    private static func field(_ field: ManifestDiff.Field) -> String {
        "offset \(field.offset)" + (field.size.map { ", size \($0)" } ?? "")
    }

    private static func constant(_ constant: ManifestDiff.Constant) -> String {
        "`\(constant.name)` = \(number(constant.value))" + note(constant.skipped)
    }

    private static func constantChange(_ change: ManifestDiff.ConstantChange) -> String {
        "\(number(change.value.from)) → \(number(change.value.to))"
    }

    private static func describe<V>(_ label: String, _ change: ManifestDiff.Change<V>?, _ format: (V) -> String) -> String? {
        change.map { "\(label) \(format($0.from)) → \(format($0.to))" }
    }

    private static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// Decimal, or hex from 0x10000 up (masks and addresses read better so).
    private static func number(_ value: ExactInteger) -> String {
        value.value >= 0x10000 ? "0x" + String(value.value, radix: 16) : String(value.value)
    }
}
