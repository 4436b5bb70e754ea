import Foundation

@testable import KVMBindings

// A small C record with every kind of member the oracle handles, its manifest, and two Swift
// mirrors: one right, one with the kind of mistakes an importer or a generator makes.

enum LayoutFixture {
    static let header = """
        #include <linux/ioctl.h>

        struct fixture {
            unsigned int a;                /* 0 */
            unsigned char b;               /* 4 */
            unsigned short c;              /* 6 */
            unsigned long long d;          /* 8 */
            unsigned char e : 3;           /* byte 16, bits 128..130 */
            signed char f : 5;             /* bits 131..135, signed */
            union {
                unsigned int w;
                unsigned char bytes[4];
            } u;                           /* 20 */
            unsigned char m[2][3];         /* 24 */
        };                                 /* size 32, alignment 8 */

        #define FIXTURE_GET _IOR(0xAE, 0x01, struct fixture)
        #define FIXTURE_BIG 0xff00000000000000ULL
        #define FIXTURE_NEG (-5)

        """

    static let manifestJSON = """
        {
          "generator": "hand-written fixture",
          "header": {"path": "fixture.h", "set": "fixture", "version": "1", "sha256": ""},
          "includeDirectory": "/nonexistent",
          "triple": "x86_64-unknown-linux-gnu",
          "architecture": "x86_64",
          "structs": [
            {"c": "struct fixture", "swift": "Fixture", "size": 32, "alignment": 8, "location": "fixture.h:3",
             "fields": [
              {"c": "a", "swift": "a", "offset": 0, "size": 4, "access": "stored", "bitOffset": 0, "bitWidth": 32, "integer": true},
              {"c": "b", "swift": "b", "offset": 4, "size": 1, "access": "stored", "bitOffset": 32, "bitWidth": 8, "integer": true},
              {"c": "c", "swift": "c", "offset": 6, "size": 2, "access": "stored", "bitOffset": 48, "bitWidth": 16, "integer": true},
              {"c": "d", "swift": "d", "offset": 8, "size": 8, "access": "stored", "bitOffset": 64, "bitWidth": 64, "integer": true},
              {"c": "e", "swift": "e", "offset": 16, "size": null, "access": "bitfield", "bitOffset": 128, "bitWidth": 3, "integer": true},
              {"c": "f", "swift": "f", "offset": 16, "size": null, "access": "bitfield", "bitOffset": 131, "bitWidth": 5, "integer": true},
              {"c": "u", "swift": "u", "offset": 20, "size": 4, "access": "stored", "integer": false},
              {"c": "u.w", "swift": "u.w", "offset": 20, "size": 4, "access": "computed", "bitOffset": 160, "bitWidth": 32, "integer": true},
              {"c": "u.bytes", "swift": "u.bytes", "offset": 20, "size": 4, "access": "computed", "bitOffset": 160, "bitWidth": 32, "integer": true},
              {"c": "m", "swift": "m", "offset": 24, "size": 6, "access": "stored", "bitOffset": 192, "bitWidth": 48, "integer": true}
             ]}
          ],
          "ioctls": [
            {"c": "FIXTURE_GET", "swift": "Fixture.get", "request": 2149625345, "direction": "read", "headerDirection": "read",
             "argument": "struct fixture", "fds": ["vm"], "location": "fixture.h:18"}
          ],
          "constants": [
            {"c": "FIXTURE_BIG", "swift": "Fixture.big", "value": 18374686479671623680, "location": "fixture.h:19"},
            {"c": "FIXTURE_NEG", "swift": "Fixture.neg", "value": -5, "location": "fixture.h:20"}
          ],
          "skipped": []
        }
        """

    static func manifest() throws -> LayoutManifest {
        try LayoutManifest.decode(Data(manifestJSON.utf8))
    }

    /// Writes `fixture.h` into a fresh directory (the caller removes it).
    static func includeDirectory() throws -> URL {
        let directory = try ProcessRunner.temporaryDirectory(prefix: "kvm-layout-fixture")
        try header.write(to: directory.appendingPathComponent("fixture.h"), atomically: true, encoding: .utf8)
        return directory
    }

    /// What a generator would emit for `Fixture`.
    static let table = SwiftLayoutTable(
        records: [
            RecordProbe(
                c: "struct fixture", size: MemoryLayout<Fixture>.size, alignment: MemoryLayout<Fixture>.alignment,
                fields: [
                    FieldProbe(c: "a", storedOffset: MemoryLayout<Fixture>.offset(of: \Fixture.a), bits: BitRange.probe(\Fixture.a)),
                    FieldProbe(c: "b", storedOffset: MemoryLayout<Fixture>.offset(of: \Fixture.b), bits: BitRange.probe(\Fixture.b)),
                    FieldProbe(c: "c", storedOffset: MemoryLayout<Fixture>.offset(of: \Fixture.c), bits: BitRange.probe(\Fixture.c)),
                    FieldProbe(c: "d", storedOffset: MemoryLayout<Fixture>.offset(of: \Fixture.d), bits: BitRange.probe(\Fixture.d)),
                    FieldProbe(c: "e", storedOffset: nil, bits: BitRange.probe(\Fixture.e)),
                    FieldProbe(c: "f", storedOffset: nil, bits: BitRange.probe(\Fixture.f)),
                    FieldProbe(c: "u", storedOffset: MemoryLayout<Fixture>.offset(of: \Fixture.u), bits: nil),
                    FieldProbe(c: "u.w", storedOffset: nil, bits: BitRange.probe(\Fixture.u.w)),
                    FieldProbe(c: "u.bytes", storedOffset: nil, bits: BitRange.probe(\Fixture.u.bytes)),
                    FieldProbe(c: "m", storedOffset: MemoryLayout<Fixture>.offset(of: \Fixture.m), bits: BitRange.probe(\Fixture.m)),
                ]),
        ],
        ioctls: [("FIXTURE_GET", 2_149_625_345)],
        constants: [("FIXTURE_BIG", Int128(0xff00_0000_0000_0000 as UInt64)), ("FIXTURE_NEG", -5)]
    )

    /// The same table over `BrokenFixture`.
    static let brokenTable = SwiftLayoutTable(
        records: [
            RecordProbe(
                c: "struct fixture", size: MemoryLayout<BrokenFixture>.size,
                alignment: MemoryLayout<BrokenFixture>.alignment,
                fields: [
                    FieldProbe(
                        c: "a", storedOffset: MemoryLayout<BrokenFixture>.offset(of: \BrokenFixture.a),
                        bits: BitRange.probe(\BrokenFixture.a)),
                    FieldProbe(
                        c: "b", storedOffset: MemoryLayout<BrokenFixture>.offset(of: \BrokenFixture.b),
                        bits: BitRange.probe(\BrokenFixture.b)),
                    FieldProbe(
                        c: "c", storedOffset: MemoryLayout<BrokenFixture>.offset(of: \BrokenFixture.c),
                        bits: BitRange.probe(\BrokenFixture.c)),
                    FieldProbe(
                        c: "d", storedOffset: MemoryLayout<BrokenFixture>.offset(of: \BrokenFixture.d),
                        bits: BitRange.probe(\BrokenFixture.d)),
                    FieldProbe(c: "e", storedOffset: nil, bits: BitRange.probe(\BrokenFixture.e)),
                    FieldProbe(c: "f", storedOffset: nil, bits: BitRange.probe(\BrokenFixture.f)),
                    FieldProbe(c: "u", storedOffset: MemoryLayout<BrokenFixture>.offset(of: \BrokenFixture.u), bits: nil),
                    FieldProbe(c: "u.w", storedOffset: nil, bits: BitRange.probe(\BrokenFixture.u.w)),
                    FieldProbe(c: "u.bytes", storedOffset: nil, bits: BitRange.probe(\BrokenFixture.u.bytes)),
                    FieldProbe(
                        c: "m", storedOffset: MemoryLayout<BrokenFixture>.offset(of: \BrokenFixture.m),
                        bits: BitRange.probe(\BrokenFixture.m)),
                ]),
        ],
        ioctls: [("FIXTURE_GET", 2_149_625_345)],
        constants: [("FIXTURE_BIG", Int128(0xff00_0000_0000_0000 as UInt64)), ("FIXTURE_NEG", -5)]
    )
}

/// `union { unsigned int w; unsigned char bytes[4]; }`: one storage word, members as accessors.
struct FixtureUnion: BitwiseCopyable, Sendable {
    var storage: UInt32 = 0
    var w: UInt32 {
        get { storage }
        set { storage = newValue }
    }
    var bytes: InlineArray<4, UInt8> {
        get { unsafeBitCast(storage, to: InlineArray<4, UInt8>.self) }
        set { storage = unsafeBitCast(newValue, to: UInt32.self) }
    }
}

/// `struct fixture`, laid out right.
struct Fixture: KVMRecord {
    var a: UInt32 = 0
    var b: UInt8 = 0
    var _padding0: UInt8 = 0
    var c: UInt16 = 0
    var d: UInt64 = 0
    var _bitfields: UInt8 = 0
    var _padding1: InlineArray<3, UInt8> = .init(repeating: 0)
    var u = FixtureUnion()
    var m: InlineArray<2, InlineArray<3, UInt8>> = .init(repeating: .init(repeating: 0))
    var _padding2: InlineArray<2, UInt8> = .init(repeating: 0)

    var e: UInt8 {
        get { _bitfields & 0x07 }
        set { _bitfields = (_bitfields & ~0x07) | (newValue & 0x07) }
    }
    var f: Int8 {
        get { Int8(bitPattern: _bitfields) >> 3 }
        set { _bitfields = (_bitfields & 0x07) | (UInt8(bitPattern: newValue) << 3) }
    }

    static var cName: String { "struct fixture" }
}

/// `struct fixture` with three mistakes: `b` one byte late, `f`'s accessor one bit high (and so
/// one bit short), and no tail padding (size 30).
struct BrokenFixture: KVMRecord {
    var a: UInt32 = 0
    var _padding0: UInt8 = 0
    var b: UInt8 = 0
    var c: UInt16 = 0
    var d: UInt64 = 0
    var _bitfields: UInt8 = 0
    var _padding1: InlineArray<3, UInt8> = .init(repeating: 0)
    var u = FixtureUnion()
    var m: InlineArray<2, InlineArray<3, UInt8>> = .init(repeating: .init(repeating: 0))

    var e: UInt8 {
        get { _bitfields & 0x07 }
        set { _bitfields = (_bitfields & ~0x07) | (newValue & 0x07) }
    }
    var f: Int8 {
        get { Int8(bitPattern: _bitfields) >> 4 }
        set { _bitfields = (_bitfields & 0x0f) | (UInt8(bitPattern: newValue) << 4) }
    }

    static var cName: String { "struct fixture" }
}
