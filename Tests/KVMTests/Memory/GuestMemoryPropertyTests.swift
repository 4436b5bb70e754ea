import Testing
@testable import KVM
import TestSupport

/// Random layouts and random accesses, compared with ``ReferenceMemory``.
///
/// Failures name the seed; rerun with `KVM_TEST_SEED=<hex seed> swift test --filter KVMTests`,
/// and set `KVM_TEST_ITERATIONS` to run more layouts.
@Suite struct GuestMemoryPropertyTests {
    static let page = 4096

    /// A random layout of 1...5 regions of 1...3 pages, sometimes contiguous, sometimes with
    /// gaps, placed low, at a random place, or ending exactly at 2^64.
    static func randomLayout(using generator: inout SplitMix64) -> [(base: UInt64, size: Int)] {
        let count = Int.random(in: 1 ... 5, using: &generator)
        var relative: [(offset: UInt64, size: Int)] = []
        var cursor: UInt64 = 0
        for _ in 0 ..< count {
            let gapPages = Bool.random(using: &generator) ? 0 : UInt64.random(in: 1 ... 3, using: &generator)
            cursor += gapPages * UInt64(page)
            let size = Int.random(in: 1 ... 3, using: &generator) * page
            relative.append((cursor, size))
            cursor += UInt64(size)
        }
        let span = cursor
        let base: UInt64
        switch Int.random(in: 0 ... 2, using: &generator) {
        case 0: base = 0
        case 1: base = UInt64.random(in: 0 ... (UInt64.max - span) / UInt64(page), using: &generator) * UInt64(page)
        default: base = UInt64.max - span + 1  // the last region ends exactly at 2^64
        }
        return relative.map { (base + $0.offset, $0.size) }
    }

    /// An address near an interesting point of the layout, or anywhere.
    static func randomAddress(
        in layout: [(base: UInt64, size: Int)], using generator: inout SplitMix64
    ) -> UInt64 {
        let region = layout.randomElement(using: &generator)!
        let delta = Int64.random(in: -9 ... 9, using: &generator)
        let anchor: UInt64
        switch Int.random(in: 0 ... 5, using: &generator) {
        case 0: anchor = region.base
        case 1: anchor = region.base &+ UInt64(region.size)  // one past the end (may wrap to 0)
        case 2: anchor = region.base + UInt64.random(in: 0 ..< UInt64(region.size), using: &generator)
        case 3: anchor = UInt64.max
        case 4: anchor = 0
        default: return UInt64.random(in: 0 ... UInt64.max, using: &generator)
        }
        return anchor &+ UInt64(bitPattern: delta)
    }

    /// A length: empty, small, spanning, huge, or negative.
    static func randomLength(using generator: inout SplitMix64) -> Int {
        switch Int.random(in: 0 ... 9, using: &generator) {
        case 0: return 0
        case 1: return Int.random(in: 1 ... 16, using: &generator)
        case 2, 3: return Int.random(in: 1 ... 3 * page, using: &generator)
        case 4, 5: return Int.random(in: page - 8 ... 6 * page, using: &generator)
        case 6: return Int.max - Int.random(in: 0 ... 8, using: &generator)
        case 7: return Int.random(in: 1 ... Int.max, using: &generator)
        case 8: return -Int.random(in: 1 ... Int.max, using: &generator)
        default: return Int.min
        }
    }

    @Test func randomAccessesMatchReferenceModel() throws {
        var generator = SplitMix64(seed: propertyTestSeed)
        for iteration in 0 ..< propertyTestIterations(default: 80) {
            let layout = Self.randomLayout(using: &generator)
            var fixture = try GuestMemoryFixture(layout: layout, fillSeed: generator.next())
            let context = Comment(rawValue: "seed \(String(propertyTestSeed, radix: 16)) iteration \(iteration) layout \(layout.map { "0x\(String($0.base, radix: 16))+\($0.size)" })")

            for _ in 0 ..< 30 {
                let address = Self.randomAddress(in: layout, using: &generator)
                let length = Self.randomLength(using: &generator)
                let guestAddress = GuestAddress(address)
                let where_ = Comment(rawValue: "\(context.rawValue) address 0x\(String(address, radix: 16)) length \(length)")

                // readBytes
                let expected = fixture.reference.read(at: address, count: length)
                let actual = Result { () throws(GuestMemoryError) in try fixture.memory.readBytes(at: guestAddress, count: length) }
                #expect(actual == expected, where_)

                // write(bytes:) — only lengths we can materialize
                if length >= 0 && length <= 6 * Self.page {
                    let bytes = (0 ..< length).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
                    let expectedError = fixture.reference.write(bytes, at: address)
                    let actualError = guestMemoryError { try fixture.memory.write(bytes: bytes, at: guestAddress) }
                    #expect(actualError == expectedError, where_)
                    #expect(fixture.contentsMatch(), where_)
                }

                // read(into:) with a small buffer
                let small = Int.random(in: 0 ... 64, using: &generator)
                let smallExpected = fixture.reference.read(at: address, count: small)
                var buffer = [UInt8](repeating: 0xEE, count: small)
                let smallError = guestMemoryError {
                    try buffer.withUnsafeMutableBytes { raw in try fixture.memory.read(into: raw, at: guestAddress) }
                }
                switch smallExpected {
                case .success(let bytes): #expect(smallError == nil && buffer == bytes, where_)
                case .failure(let error): #expect(smallError == error, where_)
                }

                // Typed loads and stores of every width.
                try checkLoad(UInt8.self, at: address, fixture: fixture, where_)
                try checkLoad(UInt16.self, at: address, fixture: fixture, where_)
                try checkLoad(UInt32.self, at: address, fixture: fixture, where_)
                try checkLoad(UInt64.self, at: address, fixture: fixture, where_)
                let value = generator.next()
                let storeExpected = fixture.reference.write(withUnsafeBytes(of: value.littleEndian) { Array($0) }, at: address)
                let storeActual = guestMemoryError { try fixture.memory.store(value, at: guestAddress) }
                #expect(storeActual == storeExpected, where_)
                if storeExpected == nil {
                    #expect(try fixture.memory.load(UInt64.self, at: guestAddress) == value, where_)
                }
                #expect(fixture.contentsMatch(), where_)

                // withUnsafeMutableBytes: single region only.
                let inPlaceExpected = fixture.reference.singleRegionError(at: address, count: length)
                let inPlaceActual = guestMemoryError {
                    let count = try fixture.memory.withUnsafeMutableBytes(at: guestAddress, count: length) { $0.count }
                    #expect(count == length, where_)
                }
                #expect(inPlaceActual == inPlaceExpected, where_)

                // Lookup.
                let located = fixture.reference.locate(address).map { fixture.reference.regions[$0.region].base }
                #expect(fixture.memory.region(containing: guestAddress)?.guestBase.rawValue == located, where_)
            }
        }
    }

    private func checkLoad<T: FixedWidthInteger & BitwiseCopyable>(
        _ type: T.Type, at address: UInt64, fixture: GuestMemoryFixture, _ where_: Comment
    ) throws {
        let expected = fixture.reference.read(at: address, count: MemoryLayout<T>.size)
        let actual = Result { () throws(GuestMemoryError) in try fixture.memory.load(T.self, at: GuestAddress(address)) }
        switch expected {
        case .success(let bytes):
            let value = bytes.reversed().reduce(T.zero) { ($0 << 8) | T($1) }
            #expect(actual == .success(value), where_)
        case .failure(let error):
            #expect(actual == .failure(error), where_)
        }
    }
}
