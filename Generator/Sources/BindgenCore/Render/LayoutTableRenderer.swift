/// Renders the Swift side of the layout oracle: for every struct, Swift's own `MemoryLayout` numbers and
/// where each field's accessor really writes (probed at run time by the tests), for comparison with C.
struct LayoutTableRenderer {
    func render(plans: [TypePlan], ioctls: [ResolvedIoctl], constantExpressions: [(String, String)], architecture: String)
        -> SwiftSource
    {
        var source = SwiftSource()
        source.block("extension SwiftLayoutTable") { body in
            for (index, plan) in plans.enumerated() {
                let type = plan.name
                body.block("static func record\(index)() -> RecordProbe") { function in
                    function.line("RecordProbe(")
                    function.indented { arguments in
                        arguments.line("c: \"\(plan.cDescription)\", size: MemoryLayout<\(type)>.size, alignment: MemoryLayout<\(type)>.alignment,")
                        arguments.line("fields: [")
                        arguments.indented { fields in
                            for entry in FieldWalker.entries(of: plan) {
                                let keyPath = "\\\(type).\(entry.swiftPath)"
                                let stored = entry.hasStoredOffset ? "MemoryLayout<\(type)>.offset(of: \(keyPath))" : "nil"
                                let bits = entry.isIntegerLike ? "BitRange.probe(\(keyPath))" : "nil"
                                fields.line("FieldProbe(c: \"\(entry.cPath)\", storedOffset: \(stored), bits: \(bits)),")
                            }
                        }
                        arguments.line("])")
                    }
                }
                body.line()
            }
            body.line("static let \(architecture) = SwiftLayoutTable(")
            body.indented { table in
                table.line("records: [\((0..<plans.count).map { "record\($0)()" }.joined(separator: ", "))],")
                table.line("ioctls: [")
                table.indented { rows in
                    for resolved in ioctls {
                        rows.line("(\"\(resolved.ioctl.name)\", UInt64(KVMIoctl.\(resolved.swiftName).request)),")
                    }
                }
                table.line("],")
                table.line("constants: [")
                table.indented { rows in
                    for (name, expression) in constantExpressions {
                        rows.line("(\"\(name)\", Int128(\(expression))),")
                    }
                }
                table.line("]")
            }
            body.line(")")

        }
        return source
    }
}
