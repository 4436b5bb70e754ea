/// How one C record becomes one Swift struct: which members are stored, which are read through
/// accessors, where explicit padding goes, and which nested types it declares.
struct TypePlan {
    /// Simple Swift name (`KVMRun`, `IO`).
    var name: String
    /// Name as written from outside (`KVMRun.IO`).
    var qualifiedName: String
    var record: Record
    /// How C names it, for documentation: `struct kvm_run`, or `struct kvm_run` member `io`.
    var cDescription: String
    var stored: [StoredProperty] = []
    var computed: [ComputedProperty] = []
    var nested: [TypePlan] = []
    var flexibleArray: FlexibleArrayPlan?
    /// Every C member with a size, in C order, and how Swift reaches it.
    var members: [PlannedMember] = []
    /// Swift alignment the stored properties produce; equals `record.alignment` by construction.
    var alignment: Int = 1
}

struct StoredProperty {
    /// Swift name, escaped if needed.
    var name: String
    var type: String
    var offset: Int
    var size: Int
    var alignment: Int
    /// Padding and raw storage are internal; C fields are public.
    var isPublic: Bool
    var zeroValue: String
    var documentation: [String]
}

/// A C member and the Swift property that reaches it.
struct PlannedMember {
    enum Access: String { case stored, computed, bitfield }
    var member: Member
    /// Swift property name (escaped); for anonymous members, the role name.
    var property: String
    var access: Access
    var swift: SwiftType
}

struct ComputedProperty {
    enum Access {
        /// A value of the property's type at a byte offset inside a stored byte or word array.
        case raw(storage: String, offset: Int)
        /// A bitfield: `width` bits at `bitOffset` inside a stored byte array.
        case bits(storage: String, bitOffset: Int, width: Int, signed: Bool)
        /// A member of an anonymous member, reachable directly as in C.
        case forward(path: String)
    }
    var name: String
    var type: String
    var access: Access
    var documentation: [String]
}

/// A flexible array member of a record (or several alternative ones at one offset, seen as bytes).
struct FlexibleArrayPlan {
    var cName: String
    var elementType: String
    var elementCDescription: String
    var offset: Int
    var elementSize: Int
    var elementAlignment: Int
}

/// A Swift spelling of a C type, with what layout and zero-initialization need.
struct SwiftType {
    var spelling: String
    var size: Int
    var alignment: Int
    var zeroValue: String
    /// Integers, bools and (nested) arrays of them: probeable by writing all-ones.
    var isIntegerLike: Bool
    var isSigned: Bool
    /// For inline records: their plan (declared as a nested type).
    var nestedPlan: TypePlan?
    /// For arrays: the element type.
    var arrayElement: (type: CType, swift: SwiftTypeBox)?
}

/// Boxes a SwiftType so SwiftType can refer to its array element.
final class SwiftTypeBox {
    let value: SwiftType
    init(_ value: SwiftType) { self.value = value }
}
