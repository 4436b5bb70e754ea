import Foundation
import Testing

@testable import KVMBindings

/// The layout oracle: the manifest's numbers must be what the C compiler computes from the header
/// set, and what the Swift compiler computes from the generated bindings.
///
/// C: `CProbeSource.program` (sizeof, _Alignof, offsetof, member sizes, all-ones bit ranges of every
/// integer leaf, ioctl requests and directions, constants), compiled with `cc -I <include>` and run.
/// Swift: `SwiftLayoutTable.x86_64` (generated into `Generated/x86_64/`), whose bit ranges come
/// from writing all-ones through the Swift accessor (`BitRange.probe`).
#if arch(x86_64)
@Suite("Layout oracle: x86_64")
struct LayoutOracleTests {
    @Test("C compiler agrees with the manifest")
    func cAgreesWithManifest() throws {
        let context = try OracleCache.x86_64.get()
        let measurement = try OracleCache.x86_64C.get()
        for (key, error) in measurement.rejected.sorted(by: { $0.key < $1.key }) {
            Issue.record("\(key): the C compiler rejects the manifest's check: \(error)")
        }
        let mismatches = LayoutComparison.compare(
            manifest: ManifestFacts.forC(context.manifest), measured: measurement.facts, side: "C",
            kinds: Set(LayoutKey.Kind.allCases).subtracting([.ioctlSize, .argumentSize])
        ).filter { measurement.rejected[$0.key] == nil }
        for mismatch in mismatches { Issue.record("\(mismatch)") }
        for problem in CProbeSource.checks(for: context.manifest).problems { Issue.record("\(problem)") }
        print("layout oracle: compared \(measurement.facts.count) C facts with the manifest (\(context.manifest.structs.count) records)")
        #expect(mismatches.isEmpty, "\(mismatches.count) disagreements between the manifest and C")
    }

    @Test("ioctl arguments match the size encoded in the request")
    func ioctlArgumentsMatchEncodedSize() throws {
        let context = try OracleCache.x86_64.get()
        let c = try OracleCache.x86_64C.get().facts
        let problems = LayoutComparison.ioctlArguments(context.manifest, c: c)
        for problem in problems { Issue.record("\(problem)") }
    }

    @Test("Swift compiler agrees with the manifest")
    func swiftAgreesWithManifest() throws {
        let context = try OracleCache.x86_64.get()
        let mismatches = LayoutComparison.compare(
            manifest: ManifestFacts.forSwift(context.manifest), measured: SwiftLayoutTable.x86_64.facts, side: "Swift")
        // The C value next to each, when the C probe ran: tells a wrong manifest from wrong Swift.
        let c = try? OracleCache.x86_64C.get().facts
        print("layout oracle: compared \(SwiftLayoutTable.x86_64.facts.count) Swift facts with the manifest")
        for mismatch in mismatches {
            let cValue = c?[mismatch.key].map { "; C \($0)" } ?? ""
            Issue.record("\(mismatch)\(cValue)")
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) disagreements between the manifest and Swift")
    }

    @Test("Swift table and manifest name the same records, fields, ioctls and constants")
    func swiftTableCoversManifest() throws {
        let context = try OracleCache.x86_64.get()
        let problems = LayoutComparison.coverage(manifest: context.manifest, table: SwiftLayoutTable.x86_64)
        for problem in problems { Issue.record("\(problem)") }
    }

    @Test("manifest is for this target")
    func manifestTarget() throws {
        let manifest = try OracleCache.x86_64.get().manifest
        #expect(manifest.architecture == "x86_64")
        #expect(manifest.triple.hasPrefix("x86_64-"))
        // Every integer leaf has a bit range; a non-bitfield one covers exactly its bytes.
        for record in manifest.structs {
            for field in record.fields where field.isInteger {
                guard let bits = field.bits else {
                    Issue.record("\(record.c) .\(field.c): integer leaf without bitOffset/bitWidth")
                    continue
                }
                if let size = field.size, !field.isBitfield, bits != BitRange(offset: field.offset * 8, width: size * 8) {
                    Issue.record("\(record.c) .\(field.c): offset \(field.offset) size \(size) but \(bits)")
                }
                if field.isBitfield, bits.offset / 8 != field.offset {
                    Issue.record("\(record.c) .\(field.c): bitfield offset \(field.offset) but \(bits)")
                }
            }
        }
    }
}
#endif
