/// Renders ioctl descriptors (`KVMIoctl`) and the typed wrappers on each fd kind.
struct IoctlRenderer {
    static let kindTypes: [IoctlOverrides.FileDescriptorKind: (type: String, noun: String)] = [
        .system: ("KVMSystemKind", "`/dev/kvm`"), .vm: ("KVMVMKind", "VM"),
        .vcpu: ("KVMVCPUKind", "vCPU"), .device: ("KVMDeviceKind", "device"),
    ]

    func renderDescriptors(_ ioctls: [ResolvedIoctl]) -> SwiftSource {
        var source = SwiftSource()
        source.documentation([
            "Every ioctl of the KVM headers: request number (computed by clang from the header's macro),",
            "argument type, real direction and the fd kinds it applies to.",
            "",
            "Issue them through the typed wrappers on `KVMFileDescriptor`, which exist only on the fd kinds",
            "each ioctl applies to; `perform` here does not check the fd's kind.",
        ])
        source.block("public enum KVMIoctl") { body in
            for (index, resolved) in ioctls.enumerated() {
                if index > 0 { body.line() }
                body.documentation(documentation(resolved))
                body.line("@inlinable public static var \(resolved.swiftName): \(descriptorType(resolved)) {")
                body.indented { $0.line("\(descriptorType(resolved))(") }
                body.indented { outer in
                    outer.indented { arguments in
                        arguments.line("request: 0x\(String(resolved.ioctl.request, radix: 16, uppercase: true)), name: \"\(resolved.ioctl.name)\",")
                        arguments.line("fileDescriptorKinds: [\(resolved.fds.map { ".\($0.rawValue)" }.joined(separator: ", "))], direction: .\(resolved.direction.rawValue))")
                    }
                }
                body.line("}")
            }
        }
        return source
    }

    func renderWrappers(_ ioctls: [ResolvedIoctl]) -> SwiftSource {
        var source = SwiftSource()
        for kind in IoctlOverrides.FileDescriptorKind.allCases {
            let applicable = ioctls.filter { $0.fds.contains(kind) }
            guard !applicable.isEmpty, let kindType = Self.kindTypes[kind] else { continue }
            source.line("/// The ioctls that apply to a \(kindType.noun) fd.")
            source.block("extension KVMFileDescriptor where Kind == \(kindType.type)") { body in
                for (index, resolved) in applicable.enumerated() {
                    if index > 0 { body.line() }
                    body.documentation(documentation(resolved))
                    let (signature, lines) = wrapper(resolved)
                    body.block(signature) { function in
                        for line in lines { function.line(line) }
                    }
                }
            }
            source.line()
        }
        return source
    }

    private func descriptorType(_ resolved: ResolvedIoctl) -> String {
        switch resolved.argument {
        case .none, .value: "KVMValueIoctl"
        case .untypedPointer: "KVMPointerIoctl"
        case .typed(let swiftType, _, _): "KVMTypedIoctl<\(swiftType)>"
        }
    }

    private func documentation(_ resolved: ResolvedIoctl) -> [String] {
        var lines = String.lines(of: resolved.ioctl.comment)
        if !lines.isEmpty { lines.append("") }
        lines.append("C: `\(resolved.ioctl.name)` = `\(resolved.ioctl.definition)` (\(resolved.ioctl.location)).")
        let fds = resolved.fds.compactMap { Self.kindTypes[$0]?.noun }.joined(separator: ", ")
        lines.append("Applies to: \(fds) fds. Direction: \(resolved.direction.rawValue).")
        if let reason = resolved.directionReason {
            lines.append("The header declares direction \(resolved.ioctl.headerDirection.rawValue); \(reason).")
        }
        return lines
    }

    /// The wrapper's signature and body. Signatures follow from direction and argument: read returns the
    /// value, write takes it, read-write takes it `inout`; integers by value; results where they mean something.
    private func wrapper(_ resolved: ResolvedIoctl) -> (String, [String]) {
        let descriptor = "KVMIoctl.\(resolved.swiftName)"
        var parameters = ""
        var setup: [String] = []
        var call: String
        var returnType: String?
        var returnLines: [String] = []

        switch resolved.result {
        case .status: break
        case .value: returnType = "CInt"
        case .fileDescriptor(let kind?): returnType = "KVMFileDescriptor<\(Self.kindTypes[kind]!.type)>"
        case .fileDescriptor(nil): returnType = "FileDescriptor"
        }

        switch resolved.argument {
        case .none:
            call = "try \(descriptor).perform(on: fileDescriptor)"
        case .value(let swiftType, let label):
            let defaultValue = label == "machineType" ? " = 0" : ""
            parameters = "_ \(label): \(swiftType)\(defaultValue)"
            let value = swiftType == "UInt" ? label : "UInt(truncatingIfNeeded: \(label).rawValue)"
            call = "try \(descriptor).perform(on: fileDescriptor, value: \(value))"
        case .untypedPointer:
            parameters = "_ argument: UnsafeMutableRawPointer"
            call = "try \(descriptor).perform(on: fileDescriptor, argument: argument)"
        case .typed(let swiftType, _, let flexible):
            let type = flexible ? "KVMFlexibleArray<\(swiftType)>" : swiftType
            switch resolved.direction {
            case .read where !flexible && returnType == nil:
                setup = [swiftType.hasPrefix("KVM") ? "var argument = \(swiftType)()" : "var argument: \(swiftType) = 0"]
                returnType = swiftType
                returnLines = ["return argument"]
            case .write, .none:
                parameters = "_ argument: \(type)"
                setup = ["var argument = argument"]
            case .read, .readWrite:
                parameters = "_ argument: inout \(type)"
            }
            call = "try \(descriptor).perform(on: fileDescriptor, argument: &argument)"
        }

        var lines = setup
        switch resolved.result {
        case .status:
            lines.append((returnLines.isEmpty ? "_ = " : "_ = ") + call)
            lines += returnLines
        case .value:
            lines.append("return " + call)
        case .fileDescriptor(let kind?):
            lines.append("return KVMFileDescriptor<\(Self.kindTypes[kind]!.type)>(rawValue: \(call))")
        case .fileDescriptor(nil):
            lines.append("return FileDescriptor(rawValue: \(call))")
        }
        let signature = "@inlinable public func \(resolved.swiftName)(\(parameters)) throws(KVMIoctlError)"
            + (returnType.map { " -> \($0)" } ?? "")
        return (signature, lines)
    }
}
