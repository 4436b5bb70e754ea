import Foundation
import Testing

@testable import KVMBindings

/// Does the oracle catch what it is for? Runs the whole pipeline (C probe, Swift probes,
/// comparison) on `LayoutFixture`, with a right and a deliberately wrong Swift mirror.
@Suite("Layout oracle: self-test")
struct OracleSanityTests {
    @Test("C probe measures the fixture as the hand-written manifest says")
    func cProbeOnFixture() throws {
        let manifest = try LayoutFixture.manifest()
        let include = try LayoutFixture.includeDirectory()
        defer { try? FileManager.default.removeItem(at: include) }
        let measurement = try CProbeDriver.measure(manifest, includeDirectory: include)
        #expect(measurement.rejected.isEmpty)
        let c = measurement.facts
        #expect(LayoutComparison.compare(manifest: ManifestFacts.forC(manifest), measured: c, side: "C",
                                         kinds: Set(LayoutKey.Kind.allCases).subtracting([.ioctlSize, .argumentSize])) == [])
        #expect(LayoutComparison.ioctlArguments(manifest, c: c) == [])
        // A few values spelled out, so that a probe that measured nothing cannot pass.
        #expect(c[.size, "struct fixture"] == .number(32))
        #expect(c[.offset, "struct fixture", "u.bytes"] == .number(20))
        #expect(c[.offset, "struct fixture", "f"] == .number(16))
        #expect(c[.bits, "struct fixture", "f"] == .bits(BitRange(offset: 131, width: 5)))
        #expect(c[.bits, "struct fixture", "m"] == .bits(BitRange(offset: 192, width: 48)))
        #expect(c[.constant, "FIXTURE_NEG"] == .number(-5))
        #expect(c[.constant, "FIXTURE_BIG"] == .number(18_374_686_479_671_623_680))
        #expect(c[.direction, "FIXTURE_GET"] == .number(2))
        #expect(c[.argumentSize, "FIXTURE_GET"] == .number(32))
    }

    @Test("a designator C rejects is reported, and every other check still runs")
    func rejectedDesignator() throws {
        var manifest = try LayoutFixture.manifest()
        manifest.structs[0].fields.append(
            LayoutManifest.Field(c: "nope", offset: 0, size: 4, access: .stored, bitOffset: 0, bitWidth: 32, integer: true))
        manifest.structs[0].flexibleArray = LayoutManifest.FlexibleArray(c: "u", element: "__u8", offset: 20, elementSize: 1)
        let include = try LayoutFixture.includeDirectory()
        defer { try? FileManager.default.removeItem(at: include) }
        let measurement = try CProbeDriver.measure(manifest, includeDirectory: include)
        let record = "struct fixture"
        #expect(
            Set(measurement.rejected.keys) == [
                LayoutKey(.offset, record, "nope"), LayoutKey(.fieldSize, record, "nope"), LayoutKey(.bits, record, "nope"),
                LayoutKey(.flexElementSize, record, "u"),
            ])
        #expect(measurement.facts[.offset, record, "d"] == .number(8))
        #expect(measurement.facts[.flexOffset, record, "u"] == .number(20))
        #expect(measurement.facts[.constant, "FIXTURE_NEG"] == .number(-5))
    }

    @Test("clang's member list of the fixture is the manifest's, and a left-out member shows")
    func memberList() throws {
        let manifest = try LayoutFixture.manifest()
        let include = try LayoutFixture.includeDirectory()
        defer { try? FileManager.default.removeItem(at: include) }
        let dump = try RecordLayoutDump.dump(
            header: "fixture.h", includeDirectory: include, triple: manifest.triple, systemHeaders: true)
        let members = try #require(dump.members(of: "struct fixture"))
        #expect(members.fields == manifest.structs[0].fields.map(\.c))
        #expect(members.flexibleArrays == [])
        let incomplete = manifest.structs[0].fields.map(\.c).filter { $0 != "u.w" }
        #expect(
            LayoutComparison.differences("fields", manifest: incomplete, swift: members.fields, sides: ("manifest", "clang"))
                == ["fields: only in the clang (1): u.w"])
    }

    @Test("member designators from a dump: anonymous, inline, arrays of inline records, flexible arrays")
    func dumpDesignators() throws {
        // Shaped like clang 21's output for kvm_ioapic_state-like and kvm_msrs-like records.
        let dump = RecordLayoutDump.parse(
            """

            *** Dumping AST Record Layout
                     0 | union s::(unnamed at /h/asm/kvm.h:84:2)
                     0 |   __u64 bits
                     0 |   struct s::(unnamed at /h/asm/kvm.h:86:3) fields
                 0:0-2 |     __u8 mode
                     1 |     __u8[4] reserved
                       | [sizeof=8, align=8]

            *** Dumping AST Record Layout
                     0 | struct s
                     0 |   __u32 id
                     4 |   union s::(anonymous at /h/asm/kvm.h:80:2)
                     4 |     __u32 a
                     4 |     struct kvm_regs r
                     4 |       __u64 rax
                     8 |   union (unnamed union at /h/asm/kvm.h:84:2)[2] table
                    24 |   struct s::(anonymous at /h/asm/kvm.h:90:2)
                    24 |     struct s::(unnamed at /h/asm/kvm.h:90:2) __empty_entries
                    24 |     struct kvm_msr_entry[] entries
                       | [sizeof=24, align=8]
            """)
        let members = try #require(dump.members(of: "struct s"))
        #expect(members.fields == ["id", "a", "r", "table", "table[0].bits", "table[0].fields", "table[0].fields.mode",
                                   "table[0].fields.reserved"])
        #expect(members.flexibleArrays == ["entries"])
    }

    @Test("a correct Swift mirror agrees with the manifest")
    func correctMirror() throws {
        let manifest = try LayoutFixture.manifest()
        #expect(LayoutComparison.compare(manifest: ManifestFacts.forSwift(manifest), measured: LayoutFixture.table.facts,
                                         side: "Swift") == [])
        #expect(LayoutComparison.coverage(manifest: manifest, table: LayoutFixture.table) == [])
    }

    @Test("a Swift mirror with fields in the wrong place is reported, field by field")
    func brokenMirror() throws {
        let manifest = try LayoutFixture.manifest()
        let mismatches = LayoutComparison.compare(
            manifest: ManifestFacts.forSwift(manifest), measured: LayoutFixture.brokenTable.facts, side: "Swift")
        let record = "struct fixture"
        #expect(
            mismatches.map(\.key).sorted() == [
                LayoutKey(.size, record),
                LayoutKey(.offset, record, "b"),
                LayoutKey(.bits, record, "b"),
                LayoutKey(.bits, record, "f"),
            ].sorted())
        #expect(mismatches.map(\.description).contains("struct fixture .b: offset: manifest 4, Swift 5"))
        #expect(mismatches.map(\.description).contains("struct fixture: size: manifest 32 (0x20), Swift 30 (0x1e)"))
        #expect(
            mismatches.map(\.description).contains(
                "struct fixture .f: bit range: manifest bits 131..<136 (5 bits from byte 16 bit 3), "
                    + "Swift bits 132..<136 (4 bits from byte 16 bit 4)"))
    }

    @Test("one wrong entry in a table is reported with both values")
    func wrongTableEntry() throws {
        let manifest = try LayoutFixture.manifest()
        var table = LayoutFixture.table
        table.records[0].fields[2].storedOffset = 7  // `c` claimed at 7
        table.ioctls[0].1 += 1
        table.constants[1].1 = 5  // FIXTURE_NEG
        let mismatches = LayoutComparison.compare(
            manifest: ManifestFacts.forSwift(manifest), measured: table.facts, side: "Swift")
        #expect(
            mismatches.map(\.description).sorted() == [
                "FIXTURE_GET: request: manifest 2149625345 (0x8020ae01), Swift 2149625346 (0x8020ae02)",
                "FIXTURE_NEG: value: manifest -5, Swift 5",
                "struct fixture .c: offset: manifest 6, Swift 7",
            ])
    }

    @Test("stored vs computed, and missing names, are reported")
    func accessAndCoverage() throws {
        let manifest = try LayoutFixture.manifest()
        var table = LayoutFixture.table
        table.records[0].fields[7].storedOffset = 20  // `u.w` stored in Swift, computed in the manifest
        table.records[0].fields[0].storedOffset = nil  // `a` computed in Swift, stored in the manifest
        table.records[0].fields.remove(at: 9)  // no `m`
        table.records[0].fields.append(FieldProbe(c: "zz", storedOffset: nil, bits: nil))
        table.constants.append(("FIXTURE_NEG", -6))
        let descriptions = LayoutComparison.compare(
            manifest: ManifestFacts.forSwift(manifest), measured: table.facts, side: "Swift"
        ).map(\.description)
        #expect(descriptions.contains { $0.hasPrefix("struct fixture .u.w: offset: manifest has no value, Swift 20") })
        #expect(descriptions.contains { $0.hasPrefix("struct fixture .a: offset: manifest 0, Swift has no value") })
        let coverage = LayoutComparison.coverage(manifest: manifest, table: table)
        #expect(
            coverage == [
                "fields of struct fixture: only in the manifest (1): m",
                "fields of struct fixture: only in the Swift table (1): zz",
                "constants: listed a different number of times: FIXTURE_NEG (1 in the manifest, 2 in the Swift table)",
                "constants in the Swift table: FIXTURE_NEG has several values: -6, -5",
            ])
    }
}

/// The Swift probe itself.
@Suite("BitRange probe")
struct BitRangeProbeTests {
    struct Sample: KVMRecord {
        var a: UInt16 = 0
        var flag = false
        var _padding: UInt8 = 0
        var b: Int32 = 0
        var row: InlineArray<3, UInt16> = .init(repeating: 0)
        var grid: InlineArray<2, InlineArray<2, UInt8>> = .init(repeating: .init(repeating: 0))
        /// A setter that stores nothing.
        var ignored: UInt8 {
            get { 0 }
            set {}
        }
        /// A setter that writes two bits with a gap between them.
        var gappy: UInt8 {
            get { 0 }
            set { _padding = newValue & 0b1000_0001 }
        }
        static var cName: String { "struct sample" }
    }

    struct NotZeroed: KVMRecord {
        var a: UInt8 = 1
        var b: UInt8 = 0
        static var cName: String { "struct not_zeroed" }
    }

    @Test func integers() {
        #expect(BitRange.probe(\Sample.a) == BitRange(offset: 0, width: 16))
        #expect(BitRange.probe(\Sample.b) == BitRange(offset: 32, width: 32))
    }

    @Test func bool() {
        #expect(BitRange.probe(\Sample.flag) == BitRange(offset: 16, width: 1))
    }

    @Test func arrays() {
        #expect(BitRange.probe(\Sample.row) == BitRange(offset: 64, width: 48))
        #expect(BitRange.probe(\Sample.grid) == BitRange(offset: 112, width: 32))
        #expect(BitRange.probe(\Sample.grid[1]) == BitRange(offset: 128, width: 16))
        #expect(BitRange.probe(\Sample.row[2]) == BitRange(offset: 96, width: 16))
    }

    @Test func anomalies() {
        #expect(BitRange.probe(\Sample.ignored) == BitRange(offset: -1, width: 0, anomaly: "nothing written"))
        let gappy = BitRange.probe(\Sample.gappy)
        #expect(gappy.offset == 24 && gappy.width == 8 && gappy.anomaly != nil)
        #expect(gappy != BitRange(offset: 24, width: 8))
        let notZeroed = BitRange.probe(\NotZeroed.b)
        #expect(notZeroed.anomaly?.contains("is not all zero") == true)
    }
}
