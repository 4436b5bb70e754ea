import Glibc
import Testing
@testable import KVM
import TestSupport

/// Builds a ``GuestMemory`` and a matching ``ReferenceMemory`` from a list of (base, size).
struct GuestMemoryFixture {
    var memory: GuestMemory
    var reference: ReferenceMemory

    init(layout: [(base: UInt64, size: Int)], fillSeed: UInt64 = 1) throws {
        var generator = SplitMix64(seed: fillSeed)
        var regions: [GuestMemoryRegion] = []
        var referenceRegions: [ReferenceMemory.Region] = []
        for (slot, entry) in layout.enumerated() {
            let mapping = try MemoryMapping(byteCount: entry.size)
            let region = try GuestMemoryRegion(
                slot: UInt32(slot), guestBase: GuestAddress(entry.base), mapping: mapping)
            var bytes = [UInt8](repeating: 0, count: mapping.byteCount)
            for index in bytes.indices { bytes[index] = UInt8.random(in: 0 ... 255, using: &generator) }
            region.mapping.withUnsafeMutableBytes { buffer in
                buffer.copyBytes(from: bytes)
            }
            regions.append(region)
            referenceRegions.append(.init(base: entry.base, bytes: bytes))
        }
        memory = try GuestMemory(regions: regions.shuffled(using: &generator))
        reference = ReferenceMemory(regions: referenceRegions)
    }

    /// Whether every byte of every mapping equals the reference model.
    func contentsMatch() -> Bool {
        for region in reference.regions {
            guard let real = memory.region(containing: GuestAddress(region.base)) else { return false }
            let same = real.mapping.withUnsafeMutableBytes { buffer in
                region.bytes.withUnsafeBytes { expected in
                    guard buffer.count == expected.count else { return false }
                    // SAFETY: both buffers are valid for `expected.count` (non-zero) bytes.
                    return unsafe memcmp(buffer.baseAddress!, expected.baseAddress!, expected.count) == 0
                }
            }
            if !same { return false }
        }
        return true
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Runs `body` and returns the ``GuestMemoryError`` it threw, or nil.
func guestMemoryError(_ body: () throws -> Void) -> GuestMemoryError? {
    do {
        try body()
        return nil
    } catch let error as GuestMemoryError {
        return error
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}
