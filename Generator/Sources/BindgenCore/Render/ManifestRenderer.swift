/// Renders `KVMBindings.manifest.json`: every struct's layout, ioctl and constant, with both spellings.
struct ManifestRenderer {
    func render(
        model: BindingModel, includeDirectories: [String], plans: [TypePlan], ioctls: [ResolvedIoctl],
        constantExpressions: [String: String]
    ) -> String {
        let structs: [JSON] = plans.map { plan in
            var pairs: [(String, JSON)] = [
                ("c", .string(plan.cDescription)), ("swift", .string(plan.name)),
                ("size", .integer(Int128(plan.record.size))), ("alignment", .integer(Int128(plan.record.alignment))),
                ("location", .string(plan.record.location.description)),
                ("fields", .array(FieldWalker.entries(of: plan).map(field))),
            ]
            if let array = plan.flexibleArray {
                pairs.append(
                    ("flexibleArray", .object([
                        ("c", .string(array.cName)), ("element", .string(array.elementCDescription)),
                        ("swiftElement", .string(array.elementType)),
                        ("offset", .integer(Int128(array.offset))), ("elementSize", .integer(Int128(array.elementSize))),
                    ])))
            }
            return .object(pairs)
        }
        let ioctlRows: [JSON] = ioctls.map { resolved in
            .object([
                ("c", .string(resolved.ioctl.name)), ("swift", .string("KVMIoctl.\(resolved.swiftName).request")),
                ("request", .integer(Int128(resolved.ioctl.request))),
                ("direction", .string(resolved.direction.rawValue)),
                ("headerDirection", .string(resolved.ioctl.headerDirection.rawValue)),
                ("argument", resolved.cArgument.map(JSON.string) ?? .null),
                ("fds", .array(resolved.fds.map { .string($0.rawValue) })),
                ("fdsSource", .string(resolved.fdsSource)),
                ("location", .string(resolved.ioctl.location.description)),
            ])
        }
        let constantRows: [JSON] = model.constants.map { constant in
            .object([
                ("c", .string(constant.name)), ("swift", .string(constantExpressions[constant.name] ?? "")),
                ("value", .integer(constant.value)), ("location", .string(constant.location.description)),
            ])
        }
        let skippedRows: [JSON] = model.skipped.map { skipped in
            .object([
                ("c", .string(skipped.name)),
                ("kind", .string(skipped.kind.rawValue)),
                ("reason", .string(skipped.reason)), ("location", .string(skipped.location.description)),
            ])
        }
        let document = JSON.object([
            ("generator", .string("kvm-bindgen")),
            ("header", .object([
                ("path", .string(model.header.path)), ("set", .string(model.header.set)),
                ("sha256", .string(model.header.sha256)),
                ("files", .array(model.header.files.map { .object([("path", .string($0.path)), ("sha256", .string($0.sha256))]) })),
            ])),
            ("includeDirectory", .string(includeDirectories.first ?? "")),
            ("includeDirectories", .array(includeDirectories.map { .string($0) })),
            ("triple", .string(model.triple.triple)),
            ("architecture", .string(model.triple.architecture)),
            ("structs", .array(structs)),
            ("ioctls", .array(ioctlRows)),
            ("constants", .array(constantRows)),
            ("skipped", .array(skippedRows)),
        ])
        return document.rendered() + "\n"
    }

    private func field(_ entry: FieldEntry) -> JSON {
        var pairs: [(String, JSON)] = [
            ("c", .string(entry.cPath)), ("swift", .string(SwiftNames.unescaped(entry.swiftPath))),
            ("offset", .integer(Int128(entry.offset))), ("size", entry.size.map { .integer(Int128($0)) } ?? .null),
            ("access", .string(entry.access.rawValue)),
        ]
        if entry.isIntegerLike {
            pairs += [
                ("bitOffset", .integer(Int128(entry.bitOffset))), ("bitWidth", .integer(Int128(entry.bitWidth))),
                ("integer", .bool(true)),
            ]
        }
        return .object(pairs)
    }
}
