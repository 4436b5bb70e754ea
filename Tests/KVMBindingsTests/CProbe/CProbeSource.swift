import Foundation

/// Writes C that measures what the manifest claims, in two variants:
///
/// - `program(for:)`: a host program that prints one fact per line (`kind|subject|member|value`),
///   including bit ranges measured at run time. Parsed by `CProbeOutput`.
/// - `staticAssertions(for:)`: compile-only `_Static_assert`s of every number except bit ranges,
///   for a cross target (`clang -target aarch64-unknown-linux-gnu -nostdinc -isystem <include>
///   -fsyntax-only`). Needs no libc: only `<linux/kvm.h>`. Failures are read by
///   `StaticAssertDiagnostics`.
///
/// Both are built from the same list of `CCheck`s.
enum CProbeSource {
    /// One C expression whose value is a fact.
    struct CCheck {
        enum Signedness { case unsigned, either }
        var key: LayoutKey
        /// The expression; `OFFSETOF(` stands for the variant's offsetof (`offsetof`, `__builtin_offsetof`).
        var expression: String
        var signedness: Signedness = .unsigned
        /// The value the manifest claims (for the static variant), if any.
        var expected: Int128?
    }

    /// Checks for every record, field, flexible array, ioctl and constant of the manifest, and the
    /// manifest entries that could not be turned into C (invalid names), as messages.
    static func checks(for manifest: LayoutManifest) -> (checks: [CCheck], problems: [String]) {
        var checks: [CCheck] = []
        var problems: [String] = []
        for record in manifest.structs {
            guard isRecordName(record.c) else {
                problems.append("manifest record name '\(record.c)' is not 'struct NAME' or 'union NAME'")
                continue
            }
            let type = record.c
            checks.append(CCheck(key: LayoutKey(.size, type), expression: "sizeof(\(type))", expected: Int128(record.size)))
            checks.append(CCheck(key: LayoutKey(.align, type), expression: "_Alignof(\(type))", expected: Int128(record.alignment)))
            for field in record.fields {
                guard isDesignator(field.c) else {
                    problems.append("\(type): manifest field '\(field.c)' is not a C member designator")
                    continue
                }
                guard !field.isBitfield else { continue }
                checks.append(
                    CCheck(key: LayoutKey(.offset, type, field.c), expression: "OFFSETOF(\(type), \(field.c))",
                           expected: Int128(field.offset)))
                checks.append(
                    CCheck(key: LayoutKey(.fieldSize, type, field.c), expression: "sizeof(((\(type) *)0)->\(field.c))",
                           expected: field.size.map { Int128($0) }))
            }
            if let flexible = record.flexibleArray {
                guard isDesignator(flexible.c) else {
                    problems.append("\(type): manifest flexible array '\(flexible.c)' is not a C member designator")
                    continue
                }
                checks.append(
                    CCheck(key: LayoutKey(.flexOffset, type, flexible.c), expression: "OFFSETOF(\(type), \(flexible.c))",
                           expected: Int128(flexible.offset)))
                // `element` may describe rather than name a type (a union of flexible arrays, bound
                // as bytes): then only the offset can be checked.
                if isTypeName(flexible.element) {
                    checks.append(
                        CCheck(key: LayoutKey(.flexElementSize, type, flexible.c),
                               expression: "sizeof(((\(type) *)0)->\(flexible.c)[0])", expected: Int128(flexible.elementSize)))
                }
            }
        }
        for ioctl in manifest.ioctls {
            guard isIdentifier(ioctl.c) else {
                problems.append("manifest ioctl '\(ioctl.c)' is not a C identifier")
                continue
            }
            let name = ioctl.c
            checks.append(CCheck(key: LayoutKey(.request, name), expression: "(\(name))", expected: Int128(ioctl.request)))
            checks.append(
                CCheck(key: LayoutKey(.direction, name),
                       expression: "(((_IOC_DIR(\(name)) & _IOC_READ) ? 2 : 0) | ((_IOC_DIR(\(name)) & _IOC_WRITE) ? 1 : 0))",
                       expected: ManifestFacts.direction(ioctl.headerDirection)))
            checks.append(CCheck(key: LayoutKey(.ioctlSize, name), expression: "_IOC_SIZE(\(name))"))
            if let argument = ioctl.argument {
                if isTypeName(argument) {
                    checks.append(CCheck(key: LayoutKey(.argumentSize, name), expression: "sizeof(\(argument))"))
                } else {
                    problems.append("\(name): manifest argument '\(argument)' is not a C type name")
                }
            }
        }
        for constant in manifest.constants {
            guard isIdentifier(constant.c) else {
                problems.append("manifest constant '\(constant.c)' is not a C identifier")
                continue
            }
            checks.append(
                CCheck(key: LayoutKey(.constant, constant.c), expression: "(\(constant.c))", signedness: .either,
                       expected: constant.value))
        }
        return (checks, problems)
    }

    // MARK: Run-time variant

    /// The run-time probe's source, and which check each line holds (1-based line numbers), so
    /// that a check the compiler rejects can be named and left out (`excluding`).
    struct Program {
        var source: String
        var lineKeys: [Int: LayoutKey]
    }

    static func program(for manifest: LayoutManifest) -> String {
        program(for: manifest, excluding: []).source
    }

    static func program(for manifest: LayoutManifest, excluding excluded: Set<LayoutKey>) -> Program {
        let checks = checks(for: manifest).checks.filter { !excluded.contains($0.key) }
        var lines = """
            /* Generated by KVMBindingsTests (layout oracle) from \(manifest.header.path) (\(manifest.header.set)). */
            #include <stddef.h>
            #include <stdio.h>
            #include <string.h>
            #include <\(manifest.header.path)>

            static void u(const char *k, const char *s, const char *m, unsigned long long v) {
                printf("%s|%s|%s|%llu\\n", k, s, m, v);
            }
            static void i(const char *k, const char *s, const char *m, long long v) {
                printf("%s|%s|%s|%lld\\n", k, s, m, v);
            }
            /* Exact whatever the type: negative values as signed, everything else as unsigned. */
            #define NUMBER(k, s, m, e) (((e) < 0) ? i(k, s, m, (long long)(e)) : u(k, s, m, (unsigned long long)(e)))
            #define UNSIGNED(k, s, m, e) u(k, s, m, (unsigned long long)(e))

            /* Lowest set bit, width (highest - lowest + 1) and number of set bits of a record's bytes. */
            static void bits(const char *s, const char *m, const void *record, size_t size, int bitfield) {
                const unsigned char *p = record;
                long lowest = -1, highest = -1, count = 0;
                for (size_t bit = 0; bit < size * 8; bit++) {
                    if ((p[bit / 8] >> (bit % 8)) & 1) {
                        if (lowest < 0) lowest = (long)bit;
                        highest = (long)bit;
                        count++;
                    }
                }
                printf("bits|%s|%s|%ld|%ld|%ld\\n", s, m, lowest, lowest < 0 ? 0 : highest - lowest + 1, count);
                if (bitfield) printf("offset|%s|%s|%ld\\n", s, m, lowest < 0 ? -1 : lowest / 8);
            }
            /* All-ones into a non-bitfield member: every byte 0xff (an integer or an array of them), or true. */
            #define SET_ONES(lv) _Generic((lv), _Bool: (void)(*(_Bool *)&(lv) = 1), default: (void)memset(&(lv), 0xff, sizeof(lv)))

            """.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var lineKeys: [Int: LayoutKey] = [:]
        // One function per record (and one for the ioctls, one for the constants) keeps each small.
        var functions: [String] = []
        var body: [(String, LayoutKey)] = []
        var currentGroup: String?
        func flush() {
            guard !body.isEmpty else { return }
            let name = "probe\(functions.count)"
            lines.append("/* \(currentGroup ?? "") */")
            lines.append("static void \(name)(void) {")
            for (line, key) in body {
                lines.append(line)
                lineKeys[lines.count] = key
            }
            lines.append("}")
            lines.append("")
            functions.append(name)
            body = []
        }
        let records = Dictionary(manifest.structs.map { ($0.c, $0) }, uniquingKeysWith: { first, _ in first })
        func finishGroup() {
            if let group = currentGroup, let record = records[group] {
                body += bitProbes(for: record).filter { !excluded.contains($0.1) }
            }
            flush()
        }
        for check in checks {
            let group = check.key.kind == .constant ? "constants" : check.key.kind.isIoctl ? "ioctls" : check.key.subject
            if group != currentGroup {
                finishGroup()
                currentGroup = group
            }
            let (k, s, m) = (check.key.kind.rawValue, check.key.subject, check.key.member ?? "-")
            let call = check.signedness == .either ? "NUMBER" : "UNSIGNED"
            let expression = check.expression.replacingOccurrences(of: "OFFSETOF(", with: "offsetof(")
            body.append(("    \(call)(\"\(k)\", \"\(s)\", \"\(m)\", \(expression));", check.key))
        }
        finishGroup()
        lines.append("int main(void) {")
        lines += functions.map { "    \($0)();" }
        lines.append("    return 0;")
        lines.append("}")
        return Program(source: lines.joined(separator: "\n") + "\n", lineKeys: lineKeys)
    }

    /// Zero a record, store all-ones into one integer leaf, and report the bits set; per leaf.
    static func bitProbes(for record: LayoutManifest.Record) -> [(String, LayoutKey)] {
        guard isRecordName(record.c) else { return [] }
        return record.fields.filter { $0.isInteger && isDesignator($0.c) }.map { field in
            let store = field.isBitfield ? "v.\(field.c) = ~v.\(field.c);" : "SET_ONES(v.\(field.c));"
            let line = "    { \(record.c) v; memset(&v, 0, sizeof v); \(store) "
                + "bits(\"\(record.c)\", \"\(field.c)\", &v, sizeof v, \(field.isBitfield ? 1 : 0)); }"
            return (line, LayoutKey(.bits, record.c, field.c))
        }
    }

    // MARK: Compile-only variant

    /// The message of each `_Static_assert`: `kvmprobe|kind|subject|member|expected`.
    static let assertionMarker = "kvmprobe|"

    static func staticAssertions(for manifest: LayoutManifest) -> String {
        var source = """
            /* Generated by KVMBindingsTests (layout oracle) from \(manifest.header.path) (\(manifest.header.set)), */
            /* for \(manifest.triple). Compile-only: no libc needed. */
            #include <\(manifest.header.path)>


            """
        for var check in checks(for: manifest).checks {
            guard let expected = check.expected else { continue }
            check.expression = check.expression.replacingOccurrences(of: "OFFSETOF(", with: "__builtin_offsetof(")
            let message = "\(assertionMarker)\(check.key.kind.rawValue)|\(check.key.subject)|\(check.key.member ?? "-")|\(expected)"
            let condition: String
            if check.signedness == .unsigned {
                condition = "(unsigned long long)\(parenthesized(check.expression)) == \(expected)ULL"
            } else if expected < 0 {
                let literal = expected == Int128(Int64.min) ? "(-9223372036854775807LL - 1)" : "(\(expected)LL)"
                condition = "\(parenthesized(check.expression)) < 0 && (long long)\(parenthesized(check.expression)) == \(literal)"
            } else {
                condition = "!(\(parenthesized(check.expression)) < 0) && (unsigned long long)\(parenthesized(check.expression)) == \(expected)ULL"
            }
            source += "_Static_assert(\(condition), \"\(message)\");\n"
        }
        return source
    }

    private static func parenthesized(_ expression: String) -> String {
        expression.hasPrefix("(") && expression.hasSuffix(")") && balanced(expression.dropFirst().dropLast())
            ? expression : "(\(expression))"
    }

    private static func balanced(_ text: Substring) -> Bool {
        var depth = 0
        for character in text {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1; if depth < 0 { return false } }
        }
        return depth == 0
    }

    // MARK: Validation of what goes into the C text

    static func isIdentifier(_ text: String) -> Bool {
        text.wholeMatch(of: /[A-Za-z_][A-Za-z0-9_]*/) != nil
    }

    static func isRecordName(_ text: String) -> Bool {
        text.wholeMatch(of: /(struct|union) [A-Za-z_][A-Za-z0-9_]*/) != nil
    }

    /// `a`, `a.b`, `a[0].b.c[3]`.
    static func isDesignator(_ text: String) -> Bool {
        text.wholeMatch(of: /[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\])*(\.[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\])*)*/) != nil
    }

    /// A type name: `struct kvm_regs`, `__u64`, `unsigned long long`, `__u8 *`, `__u8[16]` (not a
    /// description such as `bytes of struct a or struct b`).
    static func isTypeName(_ text: String) -> Bool {
        text.wholeMatch(
            of: /((struct|union|enum) [A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*( [A-Za-z_][A-Za-z0-9_]*){0,2})( ?\*)*( ?\[[0-9]+\])*/
        ) != nil
    }
}

extension LayoutKey.Kind {
    var isIoctl: Bool { self == .request || self == .direction || self == .ioctlSize || self == .argumentSize }
}
