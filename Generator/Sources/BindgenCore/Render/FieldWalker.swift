/// Lists every named C member of a record, recursively through inline records, with its C designator,
/// its Swift path and clang's layout numbers: the rows of the manifest and of the Swift layout table.
struct FieldEntry {
    enum Access: String { case stored, computed, bitfield }
    /// Designator for `offsetof(struct x, <cPath>)`: anonymous members are skipped, as C flattens them.
    var cPath: String
    /// Swift property path from the top-level type, escaped (`exit.io.port`).
    var swiftPath: String
    var offset: Int
    var size: Int?
    var access: Access
    var bitOffset: Int
    var bitWidth: Int
    var isIntegerLike: Bool
    /// Whether `MemoryLayout<Root>.offset(of:)` can report it (every step a stored property, no subscript).
    var hasStoredOffset: Bool
}

enum FieldWalker {
    static func entries(of plan: TypePlan) -> [FieldEntry] {
        var result: [FieldEntry] = []
        walk(plan, cPrefix: "", swiftPrefix: "", baseBits: 0, allStored: true, throughSubscript: false, into: &result)
        return result
    }

    private static func walk(
        _ plan: TypePlan, cPrefix: String, swiftPrefix: String, baseBits: Int, allStored: Bool,
        throughSubscript: Bool, into result: inout [FieldEntry]
    ) {
        for planned in plan.members {
            let member = planned.member
            let swiftPath = swiftPrefix + planned.property
            let bitOffset = baseBits + member.offsetInBits
            let access: FieldEntry.Access =
                planned.access == .bitfield ? .bitfield : (planned.access == .stored && allStored ? .stored : .computed)
            var cPath = cPrefix
            if let name = member.name {
                cPath += name
                result.append(
                    FieldEntry(
                        cPath: cPath, swiftPath: swiftPath, offset: bitOffset / 8,
                        size: access == .bitfield ? nil : planned.swift.size, access: access, bitOffset: bitOffset,
                        bitWidth: member.bitWidth ?? planned.swift.size * 8, isIntegerLike: planned.swift.isIntegerLike,
                        hasStoredOffset: access == .stored && !throughSubscript))
            }
            let childPrefix = member.name == nil ? cPrefix : cPath + "."
            if let nested = planned.swift.nestedPlan {
                walk(
                    nested, cPrefix: childPrefix, swiftPrefix: swiftPath + ".", baseBits: bitOffset,
                    allStored: access == .stored, throughSubscript: throughSubscript, into: &result)
            } else if let element = planned.swift.arrayElement, let nested = element.swift.value.nestedPlan,
                member.name != nil
            {
                walk(
                    nested, cPrefix: cPath + "[0].", swiftPrefix: swiftPath + "[0].", baseBits: bitOffset,
                    allStored: access == .stored, throughSubscript: true, into: &result)
            }
        }
    }
}
