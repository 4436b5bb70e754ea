/// An ioctl with the reviewed facts applied: what the wrappers and the manifest say about it.
struct ResolvedIoctl {
    enum ArgumentKind {
        /// No argument, or an integer passed by value.
        case value(swiftType: String, label: String)
        case none
        case untypedPointer
        /// A pointer to this Swift type; `flexible` when it is a header with a flexible array.
        case typed(swiftType: String, cSpelling: String, flexible: Bool)
    }

    var ioctl: Ioctl
    var swiftName: String
    var direction: Ioctl.Direction
    var directionReason: String?
    var argument: ArgumentKind
    var fds: [IoctlOverrides.FileDescriptorKind]
    /// `table` when the reviewed table lists the ioctl, `header-section` when the header's section comment decided.
    var fdsSource: String
    var result: IoctlOverrides.Result

    var cArgument: String? {
        switch argument {
        case .typed(_, let cSpelling, _): cSpelling
        case .value, .none, .untypedPointer: ioctl.argumentSpelling
        }
    }

    static func resolve(
        _ ioctl: Ioctl, plans: [String: TypePlan], sections: [(line: Int, kind: IoctlOverrides.FileDescriptorKind)]
    ) throws(BindgenError) -> ResolvedIoctl {
        let entry = IoctlOverrides.table[ioctl.name]
        let fds = entry?.fds ?? IoctlOverrides.sectionDefault(line: ioctl.location.line, sections: sections)
        let argument: ArgumentKind
        switch entry?.argument {
        case .value(let swiftType, let label)?:
            argument = .value(swiftType: swiftType, label: label)
        case .untypedPointer?:
            argument = .untypedPointer
        case .record(let tag)?:
            guard let plan = plans[tag] else { throw .argumentUnavailable("struct \(tag) is not defined for this architecture") }
            argument = .typed(swiftType: plan.name, cSpelling: "struct \(tag)", flexible: plan.flexibleArray != nil)
        case nil:
            switch ioctl.argument {
            case nil:
                argument = .none
            case .namedRecord(let tag, let kind, _, _)?:
                guard let plan = plans[tag] else { throw .overrideMismatch("\(ioctl.name): no record \(tag)") }
                argument = .typed(
                    swiftType: plan.name, cSpelling: "\(kind.rawValue) \(tag)", flexible: plan.flexibleArray != nil)
            case .integer(let size, let signed)?:
                let swift = (signed ? "Int" : "UInt") + String(size * 8)
                argument = .typed(swiftType: swift, cSpelling: ioctl.argumentSpelling ?? swift, flexible: false)
            case let other?:
                throw .unsupportedConstruct("\(ioctl.name): argument type \(other)")
            }
        }
        return ResolvedIoctl(
            ioctl: ioctl,
            swiftName: SwiftNames.escape(SwiftNames.camelCase(ConstantRenderer.strippedName(ioctl.name))),
            direction: entry?.direction ?? ioctl.headerDirection,
            directionReason: entry?.directionReason,
            argument: argument,
            fds: fds,
            fdsSource: entry == nil ? "header-section" : "table",
            result: entry?.result ?? .status)
    }

    /// Where the header's comments open each ioctl section, for ioctls the table does not list.
    static func sections(in lines: [Substring]) -> [(line: Int, kind: IoctlOverrides.FileDescriptorKind)] {
        var result: [(Int, IoctlOverrides.FileDescriptorKind)] = []
        for (index, line) in lines.enumerated() {
            let text = line.lowercased()
            guard text.contains("ioctl") else { continue }
            if text.contains("/dev/kvm") {
                result.append((index + 1, .system))
            } else if text.contains("kvm_create_device") {
                result.append((index + 1, .device))
            } else if text.contains("vcpu fd") {
                result.append((index + 1, .vcpu))
            } else if text.contains("vm fd") {
                result.append((index + 1, .vm))
            }
        }
        return result
    }
}
