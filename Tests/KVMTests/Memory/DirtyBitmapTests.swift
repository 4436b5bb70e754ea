import Testing
import KVM
import TestSupport

@Suite struct DirtyBitmapTests {
    @Test func decodesKernelLayout() {
        // Word 0: pages 0, 3, 63. Word 1: page 64 + 1 = 65.
        let bitmap = DirtyBitmap(words: [1 | 1 << 3 | 1 << 63, 1 << 1])
        #expect(Array(bitmap.dirtyPages) == [0, 3, 63, 65])
        #expect(bitmap.count == 4)
        #expect(!bitmap.isEmpty)
        #expect(bitmap.isDirty(page: 63) && bitmap.isDirty(page: 65))
        #expect(!bitmap.isDirty(page: 64) && !bitmap.isDirty(page: 1000) && !bitmap.isDirty(page: -1))
        #expect(bitmap.pageCapacity == 128)
    }

    @Test func sizesForPageCounts() {
        #expect(DirtyBitmap.wordCount(forPages: 0) == 0)
        #expect(DirtyBitmap.wordCount(forPages: -5) == 0)
        #expect(DirtyBitmap.wordCount(forPages: 1) == 1)
        #expect(DirtyBitmap.wordCount(forPages: 64) == 1)
        #expect(DirtyBitmap.wordCount(forPages: 65) == 2)
        let empty = DirtyBitmap(pageCount: 512)
        #expect(empty.words.count == 8 && empty.isEmpty && empty.count == 0)
        #expect(Array(empty.dirtyPages).isEmpty)
        #expect(Array(DirtyBitmap(words: []).dirtyPages).isEmpty)
    }

    @Test func unionGrowsToTheLongerBitmap() {
        let a = DirtyBitmap(words: [0b0101])
        let b = DirtyBitmap(words: [0b0011, 1 << 2])
        let union = a.union(b)
        #expect(union.words == [0b0111, 1 << 2])
        #expect(Array(union.dirtyPages) == [0, 1, 2, 66])
        #expect(b.union(a) == union)
    }

    @Test func markDirtyGrows() {
        var bitmap = DirtyBitmap(words: [])
        bitmap.markDirty(page: 130)
        bitmap.markDirty(page: -3)
        #expect(bitmap.words.count == 3)
        #expect(Array(bitmap.dirtyPages) == [130])
    }

    @Test func guestAddresses() throws {
        let bitmap = DirtyBitmap(words: [0b1001])
        #expect(bitmap.dirtyPageAddresses(base: 0x10_0000) == [0x10_0000, 0x10_3000])
        // Addresses that would pass 2^64 are dropped, not wrapped.
        let top = GuestAddress(UInt64.max - 0xFFF)
        #expect(bitmap.dirtyPageAddresses(base: top) == [top])
        let region = try GuestMemoryRegion(slot: 0, guestBase: 0x8000, mapping: MemoryMapping(byteCount: 0x2000))
        #expect(DirtyBitmap(words: [0b111]).dirtyPageAddresses(in: region) == [0x8000, 0x9000])
    }

    @Test func matchesBitByBitModel() {
        var generator = SplitMix64(seed: propertyTestSeed ^ 0xD1B7)
        for _ in 0 ..< 200 {
            let words = (0 ..< Int.random(in: 0 ... 6, using: &generator)).map { _ in
                generator.next() & generator.next()  // sparser bits
            }
            let bitmap = DirtyBitmap(words: words)
            let model = (0 ..< words.count * 64).filter { words[$0 / 64] >> UInt64($0 % 64) & 1 == 1 }
            #expect(Array(bitmap.dirtyPages) == model)
            #expect(bitmap.count == model.count)
            #expect(bitmap.dirtyPages.underestimatedCount == model.count)
        }
    }
}
