/// Why a table or AML object could not be encoded.
public enum ACPIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An AML name segment or path is malformed (a segment is 1-4 characters: `A-Z` or `_` first,
    /// then `A-Z`, `0-9` or `_`).
    case invalidName(String)
    /// A compressed EISA id is not three letters `A-Z` and four hexadecimal digits (e.g. `PNP0501`).
    case invalidEISAID(String)
    /// An identity field (OEM id, OEM table id, creator id) is not ASCII or is longer than its field.
    case invalidIdentity(field: String, value: String, maximumLength: Int)
    /// An object is too large for its encoding (a package of more than 255 elements, a length
    /// beyond AML's 2^28 bytes, a resource descriptor field).
    case tooLarge(String)
    /// A value is outside what its field can hold.
    case invalidValue(String)

    public var description: String {
        switch self {
        case .invalidName(let name): "invalid AML name \"\(name)\""
        case .invalidEISAID(let id): "invalid EISA id \"\(id)\" (expected three letters and four hex digits, e.g. PNP0501)"
        case .invalidIdentity(let field, let value, let maximum): "ACPI \(field) \"\(value)\" is not ASCII of at most \(maximum) characters"
        case .tooLarge(let what): "\(what) is too large to encode"
        case .invalidValue(let what): what
        }
    }
}
