import CClang

/// Finds object-like macros and enumerators in the bound headers and lets clang evaluate them.
struct MacroParser {
    let files: SourceFiles

    /// A macro definition as written.
    struct Definition {
        var name: String
        var body: [String]
        var location: SourceLocation
        var isIoctl: Bool { ["_IO", "_IOR", "_IOW", "_IOWR"].contains(body.first ?? "") }

        /// For `_IOR(KVMIO, 0x81, struct kvm_regs)`: `struct kvm_regs`.
        var ioctlArgumentSpelling: String? {
            guard isIoctl, body.count > 2, body[1] == "(", body.last == ")" else { return nil }
            var depth = 0
            var commas: [Int] = []
            for (index, token) in body.enumerated().dropFirst(2) {
                if token == "(" { depth += 1 } else if token == ")" { depth -= 1 }
                if token == "," && depth == 0 { commas.append(index) }
            }
            guard commas.count == 2 else { return nil }
            return body[(commas[1] + 1)..<(body.count - 1)].joined(separator: " ")
        }
    }

    /// Joins macro tokens the way the header writes them: `_IOW(KVMIO, 0x46, struct kvm_userspace_memory_region)`.
    static func joinTokens(_ tokens: [String]) -> String {
        var text = ""
        for (index, token) in tokens.enumerated() {
            let previous = index > 0 ? tokens[index - 1] : ""
            let tight = index == 0 || token == "," || token == ")" || token == "(" && (previous.first?.isLetter == true || previous.first == "_")
                || previous == "(" || previous == "~" || previous == "!"
            text += (tight ? "" : " ") + token
        }
        return text
    }

    func definitions(in unit: TranslationUnit) -> [Definition] {
        unit.cursor.children.compactMap { cursor in
            guard cursor.kind == CXCursor_MacroDefinition, !cursor.isMacroFunctionLike,
                let location = files.location(of: cursor)
            else { return nil }
            let tokens = unit.tokens(of: cursor)
            guard tokens.count > 1 else { return nil }  // empty: a feature-presence flag, not a number
            return Definition(name: tokens[0], body: Array(tokens.dropFirst()), location: location)
        }
    }

    /// Enumerators of enums in the bound headers.
    func enumerators(in unit: TranslationUnit, parser: RecordParser) -> [Constant] {
        var result: [Constant] = []
        for cursor in unit.cursor.children where cursor.kind == CXCursor_EnumDecl {
            guard files.location(of: cursor) != nil else { continue }
            let integerType = cursor.type.enumIntegerType
            let unsigned: Bool
            if case .integer(_, let signed)? = try? parser.cType(integerType, context: "enum") {
                unsigned = !signed
            } else {
                unsigned = false
            }
            for constant in cursor.children where constant.kind == CXCursor_EnumConstantDecl {
                guard let location = files.location(of: constant) else { continue }
                let value = unsigned ? Int128(constant.enumConstantUnsignedValue) : Int128(constant.enumConstantValue)
                result.append(
                    Constant(
                        name: constant.spelling, value: value, cType: integerType.canonical.spelling,
                        definition: nil, location: location, comment: files.comment(at: location)))
            }
        }
        return result
    }

    /// Source that makes clang evaluate every definition: one variable per constant, three
    /// declarations per ioctl (request, `_IOC_DIR`, argument type).
    static func evaluationSource(mainHeader: String, definitions: [Definition]) -> String {
        var source = "#include <\(mainHeader)>\n"
        for (index, definition) in definitions.enumerated() {
            if definition.isIoctl {
                source += "static const unsigned long long __kvmbg_req_\(index) = \(definition.name);\n"
                source += "static const unsigned int __kvmbg_dir_\(index) = ((_IOC_DIR(\(definition.name)) & _IOC_READ) ? 2 : 0)"
                    + " | ((_IOC_DIR(\(definition.name)) & _IOC_WRITE) ? 1 : 0);\n"
                if let argument = definition.ioctlArgumentSpelling {
                    source += "typedef \(argument) __kvmbg_arg_\(index);\n"
                }
            } else {
                source += "static const __auto_type __kvmbg_val_\(index) = (\(definition.name));\n"
            }
        }
        return source
    }
}
