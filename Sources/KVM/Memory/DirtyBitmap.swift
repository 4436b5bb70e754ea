/// The set of pages of one memory slot that the guest wrote since the log was last read, in
/// the layout `KVM_GET_DIRTY_LOG` returns.
///
/// The kernel fills an array of 64-bit words; bit `b` of word `w` (counting bit 0 as the least
/// significant) describes page `w * 64 + b` of the slot, where page 0 starts at the slot's
/// guest-physical base and pages are ``pageSize`` bytes. Bits past the slot's last page are
/// zero. This type wraps those words and answers questions about them.
public struct DirtyBitmap: Sendable, Hashable, CustomStringConvertible {
    /// The page size the dirty log counts in: 4096 bytes on x86-64.
    public static let pageSize: UInt64 = 4096

    /// The bitmap words, exactly as the kernel wrote them.
    public var words: [UInt64]

    /// Wraps bitmap words returned by the kernel.
    ///
    /// - Parameter words: The words; bit `b` of word `w` is page `w * 64 + b`.
    public init(words: [UInt64]) {
        self.words = words
    }

    /// Creates an all-clean bitmap with room for `pageCount` pages: the buffer to hand to
    /// `KVM_GET_DIRTY_LOG`.
    ///
    /// - Parameter pageCount: The number of pages in the slot; negative counts as zero.
    public init(pageCount: Int) {
        self.words = [UInt64](repeating: 0, count: Self.wordCount(forPages: pageCount))
    }

    /// The number of 64-bit words needed to describe `pageCount` pages.
    ///
    /// - Parameter pageCount: The number of pages; negative counts as zero.
    /// - Returns: `ceil(pageCount / 64)`.
    public static func wordCount(forPages pageCount: Int) -> Int {
        pageCount <= 0 ? 0 : pageCount / 64 + (pageCount % 64 == 0 ? 0 : 1)
    }

    /// The number of pages the words can describe (64 per word).
    public var pageCapacity: Int { words.count * 64 }

    /// The number of dirty pages.
    public var count: Int {
        words.reduce(0) { $0 + $1.nonzeroBitCount }
    }

    /// Whether no page is dirty.
    public var isEmpty: Bool {
        words.allSatisfy { $0 == 0 }
    }

    /// Whether page `index` is dirty. Pages beyond ``pageCapacity`` (or negative) are clean.
    ///
    /// - Parameter index: A page index within the slot.
    /// - Returns: `true` if its bit is set.
    public func isDirty(page index: Int) -> Bool {
        guard index >= 0, index / 64 < words.count else { return false }
        return words[index / 64] & (1 << UInt64(index % 64)) != 0
    }

    /// Marks page `index` dirty, growing the bitmap if needed.
    ///
    /// - Parameter index: A page index within the slot; negative indices are ignored.
    public mutating func markDirty(page index: Int) {
        guard index >= 0 else { return }
        let word = index / 64
        if word >= words.count {
            words.append(contentsOf: repeatElement(0, count: word - words.count + 1))
        }
        words[word] |= 1 << UInt64(index % 64)
    }

    /// The dirty pages' indices, in increasing order.
    public var dirtyPages: DirtyPages { DirtyPages(words: words) }

    /// The pages dirty in either bitmap. The result is as long as the longer of the two.
    ///
    /// - Parameter other: Another bitmap for the same slot (such as a later read of the log).
    /// - Returns: The union.
    public func union(_ other: DirtyBitmap) -> DirtyBitmap {
        var result = self
        result.formUnion(other)
        return result
    }

    /// Adds the pages dirty in `other` to this bitmap, growing it if `other` is longer.
    ///
    /// - Parameter other: Another bitmap for the same slot.
    public mutating func formUnion(_ other: DirtyBitmap) {
        if other.words.count > words.count {
            words.append(contentsOf: repeatElement(0, count: other.words.count - words.count))
        }
        for (index, word) in other.words.enumerated() {
            words[index] |= word
        }
    }

    /// The guest-physical address of each dirty page, for a slot based at `base`.
    ///
    /// Pages whose address would lie beyond `UInt64.max` (only possible if the bitmap is longer
    /// than its slot) are left out.
    ///
    /// - Parameter base: The slot's guest-physical base.
    /// - Returns: The addresses of the dirty pages' first bytes, in increasing order.
    public func dirtyPageAddresses(base: GuestAddress) -> [GuestAddress] {
        var addresses: [GuestAddress] = []
        addresses.reserveCapacity(count)
        for page in dirtyPages {
            let (offset, overflow) = UInt64(page).multipliedReportingOverflow(by: Self.pageSize)
            guard !overflow, let address = base.adding(offset) else { break }
            addresses.append(address)
        }
        return addresses
    }

    /// The guest-physical address of each dirty page of `region`.
    ///
    /// - Parameter region: The region the bitmap was read for.
    /// - Returns: The addresses of the dirty pages that lie in the region, in increasing order.
    public func dirtyPageAddresses(in region: GuestMemoryRegion) -> [GuestAddress] {
        dirtyPageAddresses(base: region.guestBase).filter { region.contains($0) }
    }

    /// A summary such as `DirtyBitmap(3 of 512 pages dirty)`.
    public var description: String {
        "DirtyBitmap(\(count) of \(pageCapacity) pages dirty)"
    }

    /// The indices of the set bits of a ``DirtyBitmap``, in increasing order.
    public struct DirtyPages: Sequence, Sendable {
        fileprivate let words: [UInt64]

        /// Creates an iterator over the set bits.
        public func makeIterator() -> Iterator {
            Iterator(words: words)
        }

        /// The number of set bits, which is this sequence's length.
        public var underestimatedCount: Int {
            words.reduce(0) { $0 + $1.nonzeroBitCount }
        }

        /// Walks the set bits word by word, lowest bit first.
        public struct Iterator: IteratorProtocol, Sendable {
            private let words: [UInt64]
            private var wordIndex = 0
            private var remaining: UInt64

            fileprivate init(words: [UInt64]) {
                self.words = words
                self.remaining = words.first ?? 0
            }

            /// The next dirty page index, or `nil` after the last one.
            public mutating func next() -> Int? {
                while remaining == 0 {
                    wordIndex += 1
                    guard wordIndex < words.count else { return nil }
                    remaining = words[wordIndex]
                }
                let bit = remaining.trailingZeroBitCount
                remaining &= remaining - 1
                return wordIndex * 64 + bit
            }
        }
    }
}
