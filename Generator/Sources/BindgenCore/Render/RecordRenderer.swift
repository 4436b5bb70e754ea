import Foundation

/// Renders planned records as Swift structs (the "render" stage for records).
struct RecordRenderer {
    func render(_ plan: TypePlan, isTopLevel: Bool, into source: inout SwiftSource) {
        var documentation = String.lines(of: plan.record.comment)
        if !documentation.isEmpty { documentation.append("") }
        documentation.append(
            "C: `\(plan.cDescription)` (\(plan.record.location)): size \(plan.record.size), alignment \(plan.record.alignment).")
        if let array = plan.flexibleArray {
            documentation.append(
                "Ends in the flexible array `\(array.cName)` (\(array.elementCDescription)) at offset \(array.offset): "
                    + "use `KVMFlexibleArray<\(plan.name)>` to pass it with its elements.")
        }
        source.documentation(documentation)
        source.block("public struct \(plan.name): KVMRecord") { body in
            for property in plan.stored {
                body.documentation(property.documentation)
                body.line("\(property.isPublic ? "public " : "")var \(property.name): \(property.type)")
            }
            if !plan.stored.isEmpty { body.line() }
            body.line("/// A value with every byte zero, as `memset(&x, 0, sizeof x)` gives in C.")
            body.block("public init()") { initializer in
                for property in plan.stored {
                    initializer.line("self.\(property.name) = \(property.zeroValue)")
                }
            }
            body.line()
            body.line("public static var cName: String { \"\(plan.cDescription.replacingQuotes)\" }")
            for property in plan.computed {
                body.line()
                body.documentation(property.documentation)
                body.block("public var \(property.name): \(property.type)") { accessor in
                    for line in accessorLines(property) { accessor.line(line) }
                }
            }
            for nested in plan.nested {
                body.line()
                render(nested, isTopLevel: false, into: &body)
            }
        }
    }

    private func accessorLines(_ property: ComputedProperty) -> [String] {
        switch property.access {
        case .raw(let storage, let offset):
            return [
                "get { KVMRawStorage.load(\(property.type).self, from: \(storage), at: \(offset)) }",
                "set { KVMRawStorage.store(newValue, into: &\(storage), at: \(offset)) }",
            ]
        case .bits(let storage, let bitOffset, let width, let signed):
            let location = "of: \(storage), at: \(bitOffset), width: \(width)"
            if property.type == "Bool" {
                return [
                    "get { KVMRawStorage.bits(\(location)) != 0 }",
                    "set { KVMRawStorage.setBits(of: &\(storage), at: \(bitOffset), width: \(width), to: newValue ? 1 : 0) }",
                ]
            }
            let read = signed ? "signedBits" : "bits"
            return [
                "get { \(property.type)(truncatingIfNeeded: KVMRawStorage.\(read)(\(location))) }",
                "set { KVMRawStorage.setBits(of: &\(storage), at: \(bitOffset), width: \(width), to: UInt64(truncatingIfNeeded: newValue)) }",
            ]
        case .forward(let path):
            return ["get { \(path) }", "set { \(path) = newValue }"]
        }
    }

    /// `extension KVMMSRs: KVMFlexibleArrayHeader { ... }` for a record ending in a flexible array.
    func renderFlexibleArrayConformance(_ plan: TypePlan, count: FlexibleArrayCounts.Count?, into source: inout SwiftSource) {
        guard let array = plan.flexibleArray else { return }
        source.line()
        source.block("extension \(plan.name): KVMFlexibleArrayHeader") { body in
            body.line("/// `\(array.elementCDescription)`, the element of `\(array.cName)`.")
            body.line("public typealias Element = \(array.elementType)")
            body.line("/// The offset of `\(array.cName)` in `\(plan.cDescription)`.")
            body.line("public static var elementsOffset: Int { \(array.offset) }")
            switch count {
            case .field(let name)?:
                let property = SwiftNames.memberName(name)
                body.line("/// `\(name)`.")
                body.line("public var declaredElementCount: Int? { Int(\(property)) }")
                body.line("/// Sets `\(name)`.")
                body.block("public mutating func setDeclaredElementCount(_ count: Int)") {
                    $0.line("\(property) = .init(truncatingIfNeeded: count)")
                }
            case .totalBytes(let name)?:
                let property = SwiftNames.memberName(name)
                body.line("/// From `\(name)`, the size in bytes of the header and the array together.")
                body.line("public var declaredElementCount: Int? { max(Int(\(property)) - Self.elementsOffset, 0) / \(array.elementSize) }")
                body.line("/// Sets `\(name)` to the size of the header and `count` elements.")
                body.block("public mutating func setDeclaredElementCount(_ count: Int)") {
                    $0.line("\(property) = .init(truncatingIfNeeded: Self.elementsOffset + count * \(array.elementSize))")
                }
            case nil:
                body.line("/// The header has no count field: the length comes from elsewhere (see the kernel's documentation).")
                body.line("public var declaredElementCount: Int? { nil }")
                body.line("/// The header has no count field; this does nothing.")
                body.line("public mutating func setDeclaredElementCount(_ count: Int) {}")
            }
        }
    }
}

extension String {
    var replacingQuotes: String { replacingOccurrences(of: "\"", with: "\\\"") }
}
