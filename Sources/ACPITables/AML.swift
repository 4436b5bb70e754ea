/// Something that encodes as AML (ACPI Machine Language) inside a DSDT or SSDT: a named object, a
/// scope, a device, a method, or a data object.
public protocol AMLObject: Sendable {
    /// Appends the object's AML encoding to `bytes`.
    func encode(into bytes: inout [UInt8]) throws(ACPIError)
}

extension AMLObject {
    /// The object's AML encoding.
    public func aml() throws(ACPIError) -> [UInt8] {
        var bytes: [UInt8] = []
        try encode(into: &bytes)
        return bytes
    }
}

/// An AML encoder for the objects a microVM's DSDT needs, written as nested values:
///
/// ```swift
/// let dsdt = DefinitionBlock.dsdt([
///     AML.sleepState5(type: 5),
///     AML.Scope("\\_SB_", [
///         AML.serialPort(name: "COM1", uid: 1, port: 0x3F8, irq: 4),
///         AML.powerButton(),
///         AML.virtioMMIO(name: "VR00", uid: 0, address: 0xD000_0000, size: 0x1000, gsi: 5),
///     ]),
/// ])
/// ```
///
/// Integers (`Int`, `UInt64`) and `String`s are AML data objects themselves. Names are AML name
/// strings: segments of up to four characters (shorter ones are padded with `_`), separated by `.`,
/// optionally starting with `\` (the root) or `^` (the parent scope).
public enum AML {
    // MARK: Named objects and scopes

    /// `Name (name, value)`.
    public struct Name: AMLObject {
        public let name: String
        public let value: any AMLObject
        public init(_ name: String, _ value: any AMLObject) {
            self.name = name
            self.value = value
        }
        public func encode(into bytes: inout [UInt8]) throws(ACPIError) {
            bytes.append(0x08)
            bytes += try AML.nameString(name)
            try value.encode(into: &bytes)
        }
    }

    /// `Scope (path) { objects }`.
    public struct Scope: AMLObject {
        public let path: String
        public let objects: [any AMLObject]
        public init(_ path: String, _ objects: [any AMLObject]) {
            self.path = path
            self.objects = objects
        }
        public func encode(into bytes: inout [UInt8]) throws(ACPIError) {
            bytes.append(0x10)
            try AML.package(try AML.nameString(path), objects, into: &bytes)
        }
    }

    /// `Device (name) { objects }`.
    public struct Device: AMLObject {
        public let name: String
        public let objects: [any AMLObject]
        public init(_ name: String, _ objects: [any AMLObject]) {
            self.name = name
            self.objects = objects
        }
        public func encode(into bytes: inout [UInt8]) throws(ACPIError) {
            bytes += [0x5B, 0x82]
            try AML.package(try AML.nameString(name), objects, into: &bytes)
        }
    }

    /// `Method (name, arguments, Serialized|NotSerialized) { body }`.
    public struct Method: AMLObject {
        public let name: String
        public let arguments: UInt8
        public let serialized: Bool
        public let body: [any AMLObject]
        public init(_ name: String, arguments: UInt8 = 0, serialized: Bool = false, _ body: [any AMLObject]) {
            self.name = name
            self.arguments = arguments
            self.serialized = serialized
            self.body = body
        }
        public func encode(into bytes: inout [UInt8]) throws(ACPIError) {
            guard arguments <= 7 else { throw .invalidValue("method \(name) has \(arguments) arguments (at most 7)") }
            bytes.append(0x14)
            try AML.package(try AML.nameString(name) + [arguments | (serialized ? 0x08 : 0)], body, into: &bytes)
        }
    }

    /// `Return (value)`.
    public struct Return: AMLObject {
        public let value: any AMLObject
        public init(_ value: any AMLObject) { self.value = value }
        public func encode(into bytes: inout [UInt8]) throws(ACPIError) {
            bytes.append(0xA4)
            try value.encode(into: &bytes)
        }
    }

    // MARK: Data objects

    /// `Package () { elements }` (at most 255 elements).
    public struct Package: AMLObject {
        public let elements: [any AMLObject]
        public init(_ elements: [any AMLObject]) { self.elements = elements }
        public func encode(into bytes: inout [UInt8]) throws(ACPIError) {
            guard elements.count <= 255 else { throw .tooLarge("a package of \(elements.count) elements") }
            bytes.append(0x12)
            try AML.package([UInt8(elements.count)], elements, into: &bytes)
        }
    }

    /// `Buffer () { bytes }`.
    public struct Buffer: AMLObject {
        public let contents: [UInt8]
        public init(_ contents: [UInt8]) { self.contents = contents }
        public func encode(into bytes: inout [UInt8]) throws(ACPIError) {
            var body: [UInt8] = []
            try UInt64(contents.count).encode(into: &body)
            body += contents
            bytes.append(0x11)
            bytes += try AML.packageLength(body.count)
            bytes += body
        }
    }

    /// `EisaId ("PNP0501")`: a compressed EISA id, the integer form of a PNP `_HID` or `_CID`.
    public struct EISAID: AMLObject {
        public let id: String
        public init(_ id: String) { self.id = id }

        /// The 32-bit compressed id.
        public func value() throws(ACPIError) -> UInt32 {
            let characters = Array(id.utf8)
            guard characters.count == 7, characters[0..<3].allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
                throw .invalidEISAID(id)
            }
            var digits: UInt32 = 0
            for character in characters[3...] {
                guard let digit = hexDigit(character) else { throw .invalidEISAID(id) }
                digits = digits << 4 | digit
            }
            let letters = characters[0..<3].reduce(UInt32(0)) { $0 << 5 | UInt32($1 - 0x40) }
            return (letters << 16 | digits).byteSwapped
        }

        public func encode(into bytes: inout [UInt8]) throws(ACPIError) {
            try UInt64(try value()).encode(into: &bytes)
        }

        private func hexDigit(_ character: UInt8) -> UInt32? {
            switch character {
            case 0x30...0x39: UInt32(character - 0x30)
            case 0x41...0x46: UInt32(character - 0x41 + 10)
            default: nil
            }
        }
    }

    /// Bytes already encoded as AML, copied as they are (for objects this encoder does not model).
    public struct Raw: AMLObject {
        public let bytes: [UInt8]
        public init(_ bytes: [UInt8]) { self.bytes = bytes }
        public func encode(into bytes: inout [UInt8]) throws(ACPIError) { bytes += self.bytes }
    }

    // MARK: Encoding rules

    /// A PkgLength for `count` bytes that follow it (the encoding counts its own bytes too).
    public static func packageLength(_ count: Int) throws(ACPIError) -> [UInt8] {
        if count + 1 <= 0x3F { return [UInt8(count + 1)] }
        for extra in 1...3 {
            let total = count + 1 + extra
            guard total < 1 << (4 + 8 * extra) else { continue }
            var encoded = [UInt8(extra << 6) | UInt8(total & 0x0F)]
            for index in 0..<extra { encoded.append(UInt8(truncatingIfNeeded: total >> (4 + 8 * index))) }
            return encoded
        }
        throw .tooLarge("an AML object of \(count) bytes")
    }

    /// An AML NameString: `\`, `^`… prefixes, then a NameSeg, DualNamePath or MultiNamePath (or NullName).
    public static func nameString(_ path: String) throws(ACPIError) -> [UInt8] {
        var rest = Substring(path)
        var encoded: [UInt8] = []
        if rest.hasPrefix("\\") {
            encoded.append(0x5C)
            rest = rest.dropFirst()
        } else {
            while rest.hasPrefix("^") {
                encoded.append(0x5E)
                rest = rest.dropFirst()
            }
        }
        if rest.isEmpty {
            guard !encoded.isEmpty else { throw .invalidName(path) }
            return encoded + [0x00]  // `\` or `^`: NullName after the prefix
        }
        let segments = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard segments.count <= 255 else { throw .invalidName(path) }
        var names: [UInt8] = []
        for segment in segments { names += try nameSegment(segment, in: path) }
        switch segments.count {
        case 1: return encoded + names
        case 2: return encoded + [0x2E] + names
        default: return encoded + [0x2F, UInt8(segments.count)] + names
        }
    }

    static func nameSegment(_ segment: Substring, in path: String) throws(ACPIError) -> [UInt8] {
        let characters = Array(segment.utf8)
        guard (1...4).contains(characters.count) else { throw .invalidName(path) }
        for (index, character) in characters.enumerated() {
            let letter = (0x41...0x5A).contains(character) || character == 0x5F
            let digit = (0x30...0x39).contains(character)
            guard letter || (index > 0 && digit) else { throw .invalidName(path) }
        }
        return characters + [UInt8](repeating: 0x5F, count: 4 - characters.count)
    }

    /// `lead` followed by the objects, preceded by the PkgLength of both.
    static func package(_ lead: [UInt8], _ objects: [any AMLObject], into bytes: inout [UInt8]) throws(ACPIError) {
        var body = lead
        for object in objects { try object.encode(into: &body) }
        bytes += try packageLength(body.count)
        bytes += body
    }
}

extension UInt64: AMLObject {
    /// ZeroOp, OneOp, OnesOp, or the smallest of ByteConst, WordConst, DWordConst, QWordConst.
    public func encode(into bytes: inout [UInt8]) throws(ACPIError) {
        switch self {
        case 0: bytes.append(0x00)
        case 1: bytes.append(0x01)
        case .max: bytes.append(0xFF)
        case ...0xFF: bytes += [0x0A, UInt8(self)]
        case ...0xFFFF: bytes += [0x0B] + (0..<2).map { UInt8(truncatingIfNeeded: self >> (8 * $0)) }
        case ...0xFFFF_FFFF: bytes += [0x0C] + (0..<4).map { UInt8(truncatingIfNeeded: self >> (8 * $0)) }
        default: bytes += [0x0E] + (0..<8).map { UInt8(truncatingIfNeeded: self >> (8 * $0)) }
        }
    }
}

extension Int: AMLObject {
    /// As `UInt64`; negative values are their 64-bit two's complement (AML integers are unsigned).
    public func encode(into bytes: inout [UInt8]) throws(ACPIError) {
        try UInt64(bitPattern: Int64(self)).encode(into: &bytes)
    }
}

extension String: AMLObject {
    /// A String object: ASCII characters 0x01-0x7F, NUL-terminated.
    public func encode(into bytes: inout [UInt8]) throws(ACPIError) {
        let characters = Array(utf8)
        guard characters.allSatisfy({ $0 >= 0x01 && $0 <= 0x7F }) else { throw .invalidValue("AML string \"\(self)\" is not ASCII") }
        bytes.append(0x0D)
        bytes += characters
        bytes.append(0x00)
    }
}
