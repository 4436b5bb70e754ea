/// Everything that makes a generator run fail, each with one clear message.
public enum BindgenError: Error, CustomStringConvertible, Equatable {
    case headerNotFound(String)
    case clangFailed(String)
    case unknownTriple(String)
    case unsupportedConstruct(String)
    case overrideMismatch(String)
    case outputFailed(String)
    case stale(String)
    /// An ioctl's reviewed argument type does not exist on the target (the ioctl is skipped, not fatal).
    case argumentUnavailable(String)

    public var description: String {
        switch self {
        case .headerNotFound(let path): "header not found: \(path)"
        case .clangFailed(let message): "clang failed to parse the header:\n\(message)"
        case .unknownTriple(let triple): "unknown target triple '\(triple)' (supported: \(TargetTriple.supported.joined(separator: ", ")))"
        case .unsupportedConstruct(let message): "unsupported C construct: \(message)"
        case .overrideMismatch(let message): "override table does not match the header: \(message)"
        case .outputFailed(let message): "cannot write output: \(message)"
        case .stale(let message): message
        case .argumentUnavailable(let message): message
        }
    }
}
