/// How the KVM API changed from one manifest to another: ioctls, structs (with their layout and
/// fields), capabilities (`KVMCapability`), exit reasons (`KVMExitReason`) and the other constants
/// added, removed or changed. Encodes as the JSON of `kvm-bindgen diff --format json`.
public struct ManifestDiff: Codable, Equatable, Sendable {
    /// One side of the comparison.
    public struct Source: Codable, Equatable, Sendable {
        public var set: String
        public var triple: String
        public var sha256: String
    }

    /// A value on both sides, present only where it differs.
    public struct Change<Value: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
        public var from: Value
        public var to: Value

        static func of(_ from: Value, _ to: Value) -> Change? { from == to ? nil : Change(from: from, to: to) }
    }

    /// Additions, removals and changes of one kind of declaration, each sorted by name.
    public struct Section<Item: Entry, Changed: Entry>: Codable, Equatable, Sendable {
        public var added: [Item] = []
        public var removed: [Item] = []
        public var changed: [Changed] = []
        public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }
    }

    /// Anything a section lists: named by its C name.
    public protocol Entry: Codable, Equatable, Sendable {
        var name: String { get }
    }

    public struct Ioctl: Entry {
        public var name: String
        public var request: UInt64
        public var direction: String
        public var argument: String?
        /// Why the other side, whose header still declares it, does not bind it (an added ioctl that
        /// was declared but unusable before; a removed one whose struct moved to another architecture).
        public var skipped: String?
    }

    public struct IoctlChange: Entry {
        public var name: String
        public var request: Change<UInt64>?
        public var direction: Change<String>?
        public var argument: Change<String?>?
    }

    public struct Struct: Entry {
        public var name: String
        public var size: Int
        public var alignment: Int
        /// As for ioctls: why the other side does not bind it, when its header declares it.
        public var skipped: String?
    }

    public struct Field: Entry {
        /// The member designator (`io.port`).
        public var name: String
        public var offset: Int
        public var size: Int?
    }

    public struct FieldChange: Entry {
        public var name: String
        public var offset: Change<Int>?
        public var size: Change<Int?>?
        /// Only for bitfields (elsewhere the bit range follows from offset and size).
        public var bitOffset: Change<Int?>?
        public var bitWidth: Change<Int?>?
    }

    public struct StructChange: Entry {
        public var name: String
        public var size: Change<Int>?
        public var alignment: Change<Int>?
        /// `name: element at offset`, or nil without one.
        public var flexibleArray: Change<String?>?
        public var fieldsAdded: [Field]
        public var fieldsRemoved: [Field]
        public var fieldsChanged: [FieldChange]
    }

    public struct Constant: Entry {
        public var name: String
        public var value: ExactInteger
        /// As for ioctls: why the other side does not bind it, when its header declares it.
        public var skipped: String?
    }

    public struct ConstantChange: Entry {
        public var name: String
        public var value: Change<ExactInteger>
    }

    public var from: Source
    public var to: Source
    public var ioctls: Section<Ioctl, IoctlChange>
    public var structs: Section<Struct, StructChange>
    public var capabilities: Section<Constant, ConstantChange>
    public var exitReasons: Section<Constant, ConstantChange>
    /// Every other constant (flags, values, sizes, the other typed groups).
    public var constants: Section<Constant, ConstantChange>

    /// The Swift type prefixes (`KVMCapability.`) whose constants get their own section.
    static let capabilityGroup = "KVMCapability."
    static let exitReasonGroup = "KVMExitReason."

    public init(from old: BindingsManifest, to new: BindingsManifest) {
        from = Source(old)
        to = Source(new)
        let skipped = (old: Self.skippedReasons(old), new: Self.skippedReasons(new))
        ioctls = Self.section(old.ioctls, new.ioctls, name: \.c, skipped: skipped, item: Ioctl.init, change: IoctlChange.init)
        structs = Self.section(old.structs, new.structs, name: \.c, skipped: skipped, item: Struct.init, change: StructChange.init)
        func constants(_ manifest: BindingsManifest, _ include: (String) -> Bool) -> [BindingsManifest.Constant] {
            manifest.constants.filter { include($0.swift) }
        }
        let isCapability: (String) -> Bool = { $0.hasPrefix(Self.capabilityGroup) }
        let isExitReason: (String) -> Bool = { $0.hasPrefix(Self.exitReasonGroup) }
        let isOther: (String) -> Bool = { !isCapability($0) && !isExitReason($0) }
        capabilities = Self.section(
            constants(old, isCapability), constants(new, isCapability), name: \.c, skipped: skipped, item: Constant.init,
            change: ConstantChange.init)
        exitReasons = Self.section(
            constants(old, isExitReason), constants(new, isExitReason), name: \.c, skipped: skipped, item: Constant.init,
            change: ConstantChange.init)
        self.constants = Self.section(
            constants(old, isOther), constants(new, isOther), name: \.c, skipped: skipped, item: Constant.init,
            change: ConstantChange.init)
    }

    private static func skippedReasons(_ manifest: BindingsManifest) -> [String: String] {
        Dictionary(manifest.skipped.map { ($0.c, $0.reason) }, uniquingKeysWith: { first, _ in first })
    }

    public var isEmpty: Bool {
        ioctls.isEmpty && structs.isEmpty && capabilities.isEmpty && exitReasons.isEmpty && constants.isEmpty
    }

    /// Matches entries by name (the first of a name that occurs twice); `change` returns nil when equal.
    /// Sorted by name, or with `inOrder` in the order of `new` (then of `old`), as a record's fields.
    /// An added or removed item gets the reason the other side skips it, if it does.
    fileprivate static func section<Entry, Item, Changed>(
        _ old: [Entry], _ new: [Entry], name: (Entry) -> String, inOrder: Bool = false,
        skipped: (old: [String: String], new: [String: String]) = ([:], [:]), item: (Entry, String?) -> Item,
        change: (Entry, Entry) -> Changed?
    ) -> Section<Item, Changed> {
        let oldByName = Dictionary(old.map { (name($0), $0) }, uniquingKeysWith: { first, _ in first })
        let newByName = Dictionary(new.map { (name($0), $0) }, uniquingKeysWith: { first, _ in first })
        var keys = Set(oldByName.keys).union(newByName.keys).sorted()
        if inOrder {
            var seen: Set<String> = []
            keys = (new.map(name) + old.map(name)).filter { seen.insert($0).inserted }
        }
        var section = Section<Item, Changed>()
        for key in keys {
            switch (oldByName[key], newByName[key]) {
            case (let before?, let after?): if let changed = change(before, after) { section.changed.append(changed) }
            case (let before?, nil): section.removed.append(item(before, skipped.new[key]))
            case (nil, let after?): section.added.append(item(after, skipped.old[key]))
            case (nil, nil): break
            }
        }
        return section
    }
}

extension ManifestDiff.Source {
    init(_ manifest: BindingsManifest) {
        self.init(set: manifest.header.set, triple: manifest.triple, sha256: manifest.header.sha256)
    }
}

extension ManifestDiff.Ioctl {
    init(_ ioctl: BindingsManifest.Ioctl, skipped: String?) {
        self.init(name: ioctl.c, request: ioctl.request, direction: ioctl.direction, argument: ioctl.argument, skipped: skipped)
    }
}

extension ManifestDiff.IoctlChange {
    init?(_ old: BindingsManifest.Ioctl, _ new: BindingsManifest.Ioctl) {
        self.init(
            name: new.c, request: .of(old.request, new.request), direction: .of(old.direction, new.direction),
            argument: .of(old.argument, new.argument))
        if request == nil && direction == nil && argument == nil { return nil }
    }
}

extension ManifestDiff.Struct {
    init(_ record: BindingsManifest.Record, skipped: String?) {
        self.init(name: record.c, size: record.size, alignment: record.alignment, skipped: skipped)
    }
}

extension ManifestDiff.Field {
    init(_ field: BindingsManifest.Field, skipped _: String?) {
        self.init(name: field.c, offset: field.offset, size: field.size)
    }
}

extension ManifestDiff.FieldChange {
    init?(_ old: BindingsManifest.Field, _ new: BindingsManifest.Field) {
        let bitfield = old.access == "bitfield" || new.access == "bitfield"
        self.init(
            name: new.c, offset: .of(old.offset, new.offset), size: .of(old.size, new.size),
            bitOffset: bitfield ? .of(old.bitOffset, new.bitOffset) : nil,
            bitWidth: bitfield ? .of(old.bitWidth, new.bitWidth) : nil)
        if offset == nil && size == nil && bitOffset == nil && bitWidth == nil { return nil }
    }
}

extension ManifestDiff.StructChange {
    init?(_ old: BindingsManifest.Record, _ new: BindingsManifest.Record) {
        let fields = ManifestDiff.section(
            old.fields, new.fields, name: \.c, inOrder: true, item: ManifestDiff.Field.init, change: ManifestDiff.FieldChange.init)
        func describe(_ flexible: BindingsManifest.FlexibleArray?) -> String? {
            flexible.map { "\($0.c): \($0.element) at \($0.offset)" }
        }
        self.init(
            name: new.c, size: .of(old.size, new.size), alignment: .of(old.alignment, new.alignment),
            flexibleArray: .of(describe(old.flexibleArray), describe(new.flexibleArray)),
            fieldsAdded: fields.added, fieldsRemoved: fields.removed, fieldsChanged: fields.changed)
        if size == nil && alignment == nil && flexibleArray == nil && fields.isEmpty { return nil }
    }
}

extension ManifestDiff.Constant {
    init(_ constant: BindingsManifest.Constant, skipped: String?) {
        self.init(name: constant.c, value: constant.value, skipped: skipped)
    }
}

extension ManifestDiff.ConstantChange {
    init?(_ old: BindingsManifest.Constant, _ new: BindingsManifest.Constant) {
        guard let value = ManifestDiff.Change.of(old.value, new.value) else { return nil }
        self.init(name: new.c, value: value)
    }
}
