/// One measurable number about the bindings: the common currency of the manifest, the C probe
/// and the Swift layout table, so that all three are compared by one function.
struct LayoutKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    enum Kind: String, CaseIterable, Sendable {
        /// `sizeof` / `MemoryLayout.size` of a record.
        case size
        /// `_Alignof` / `MemoryLayout.alignment` of a record.
        case align
        /// Byte offset of a field (C: `offsetof`; Swift: stored properties only).
        case offset
        /// Byte size of a non-bitfield field.
        case fieldSize = "fsize"
        /// Bits written by storing all-ones into an integer leaf.
        case bits
        /// Offset of a flexible array member.
        case flexOffset = "flexoff"
        /// Size of one element of a flexible array member.
        case flexElementSize = "flexsize"
        /// An ioctl's request number.
        case request
        /// An ioctl's `_IOC_DIR`, normalised: 0 none, 1 write, 2 read, 3 read+write.
        case direction = "dir"
        /// An ioctl's `_IOC_SIZE` (C only; compared with `sizeof` of the manifest's argument).
        case ioctlSize = "iocsize"
        /// `sizeof` of the manifest's argument type for an ioctl (C only).
        case argumentSize = "argsize"
        /// A constant's value.
        case constant = "const"
    }

    var kind: Kind
    /// The record's C name (`struct kvm_regs`), or the ioctl's / constant's name.
    var subject: String
    /// The field designator, for field kinds.
    var member: String?

    init(_ kind: Kind, _ subject: String, _ member: String? = nil) {
        self.kind = kind
        self.subject = subject
        self.member = member
    }

    var description: String {
        let what: String
        switch kind {
        case .size: what = "size"
        case .align: what = "alignment"
        case .offset: what = "offset"
        case .fieldSize: what = "size"
        case .bits: what = "bit range"
        case .flexOffset: what = "flexible array offset"
        case .flexElementSize: what = "flexible array element size"
        case .request: what = "request"
        case .direction: what = "direction (_IOC_DIR)"
        case .ioctlSize: what = "_IOC_SIZE"
        case .argumentSize: what = "sizeof(argument)"
        case .constant: what = "value"
        }
        if let member { return "\(subject) .\(member): \(what)" }
        return "\(subject): \(what)"
    }

    static func < (lhs: LayoutKey, rhs: LayoutKey) -> Bool {
        (lhs.subject, lhs.member ?? "", lhs.kind.rawValue) < (rhs.subject, rhs.member ?? "", rhs.kind.rawValue)
    }
}

enum LayoutValue: Equatable, Sendable, CustomStringConvertible {
    case number(Int128)
    case bits(BitRange)

    var description: String {
        switch self {
        case .number(let value): value < 0 || value < 16 ? "\(value)" : "\(value) (0x\(String(value, radix: 16)))"
        case .bits(let range): range.description
        }
    }
}

typealias LayoutFacts = [LayoutKey: LayoutValue]

extension Dictionary where Key == LayoutKey, Value == LayoutValue {
    subscript(_ kind: LayoutKey.Kind, _ subject: String, _ member: String? = nil) -> LayoutValue? {
        get { self[LayoutKey(kind, subject, member)] }
        set { self[LayoutKey(kind, subject, member)] = newValue }
    }
}

/// Which facts the manifest claims, per side: C measures every field, Swift only stored offsets.
enum ManifestFacts {
    static func direction(_ name: String?) -> Int128? {
        switch name {
        case "none": 0
        case "write": 1
        case "read": 2
        case "readWrite": 3
        default: nil
        }
    }

    /// What the C compiler must agree with.
    static func forC(_ manifest: LayoutManifest) -> LayoutFacts {
        var facts = LayoutFacts()
        for record in manifest.structs {
            facts[.size, record.c] = .number(Int128(record.size))
            facts[.align, record.c] = .number(Int128(record.alignment))
            for field in record.fields {
                // A bitfield's offset is the byte holding its first bit; C derives it from the bit range.
                facts[.offset, record.c, field.c] = .number(Int128(field.offset))
                if !field.isBitfield, let size = field.size { facts[.fieldSize, record.c, field.c] = .number(Int128(size)) }
                if let bits = field.bits { facts[.bits, record.c, field.c] = .bits(bits) }
            }
            if let flexible = record.flexibleArray {
                facts[.flexOffset, record.c, flexible.c] = .number(Int128(flexible.offset))
                // An element that is described rather than named (a union of flexible arrays bound
                // as bytes) has no C size to compare with.
                if CProbeSource.isTypeName(flexible.element) {
                    facts[.flexElementSize, record.c, flexible.c] = .number(Int128(flexible.elementSize))
                }
            }
        }
        for ioctl in manifest.ioctls {
            facts[.request, ioctl.c] = .number(Int128(ioctl.request))
            if let direction = direction(ioctl.headerDirection) { facts[.direction, ioctl.c] = .number(direction) }
        }
        for constant in manifest.constants {
            facts[.constant, constant.c] = .number(constant.value)
        }
        return facts
    }

    /// What the Swift layout table must agree with: computed properties have no stored offset,
    /// non-integer fields have no bit probe.
    static func forSwift(_ manifest: LayoutManifest) -> LayoutFacts {
        var facts = LayoutFacts()
        for record in manifest.structs {
            facts[.size, record.c] = .number(Int128(record.size))
            facts[.align, record.c] = .number(Int128(record.alignment))
            for field in record.fields {
                if field.access == .stored { facts[.offset, record.c, field.c] = .number(Int128(field.offset)) }
                if let bits = field.bits { facts[.bits, record.c, field.c] = .bits(bits) }
            }
        }
        for ioctl in manifest.ioctls {
            facts[.request, ioctl.c] = .number(Int128(ioctl.request))
        }
        for constant in manifest.constants {
            facts[.constant, constant.c] = .number(constant.value)
        }
        return facts
    }
}

extension SwiftLayoutTable {
    /// The numbers the Swift compiler produced.
    var facts: LayoutFacts {
        var facts = LayoutFacts()
        for record in records {
            facts[.size, record.c] = .number(Int128(record.size))
            facts[.align, record.c] = .number(Int128(record.alignment))
            for field in record.fields {
                if let offset = field.storedOffset { facts[.offset, record.c, field.c] = .number(Int128(offset)) }
                if let bits = field.bits { facts[.bits, record.c, field.c] = .bits(bits) }
            }
        }
        for (name, request) in ioctls { facts[.request, name] = .number(Int128(request)) }
        for (name, value) in constants { facts[.constant, name] = .number(value) }
        return facts
    }
}
