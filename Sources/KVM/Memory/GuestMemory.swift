import Glibc

/// The guest's physical memory: a set of non-overlapping ``GuestMemoryRegion``s, and bounds
/// checked byte access to them.
///
/// Every access names a guest-physical range. The whole range is validated before any byte
/// is copied, so an access either succeeds completely or throws a ``GuestMemoryError`` having
/// read or written nothing. A range may cross from one region into the next when the two are
/// contiguous (one ends where the next begins); any gap fails with
/// ``GuestMemoryError/addressNotMapped(_:)`` naming the first missing byte. No input, however
/// large or close to `UInt64.max`, makes an access touch host memory outside a mapping or trap.
///
/// An empty access (count 0, or a zero-sized type) succeeds without looking at the address.
///
/// ## Concurrency and "volatile" semantics
///
/// Guest memory is shared with the guest, which may be running on other threads and change
/// any byte at any moment. Reads therefore return a byte-wise snapshot: each byte holds some
/// value the guest stored there, but a multi-byte read is not atomic and may mix old and new
/// bytes (a device model that needs a consistent view must use a guest-visible protocol, such
/// as virtio's ring indices, and re-validate what it read). Writes likewise become visible to
/// the guest byte by byte in no particular order.
///
/// Swift has no `volatile`, and none is needed here. In C, `volatile` matters for accesses
/// the compiler could otherwise elide, merge, or repeat. Every access here is a single
/// `memcpy` (strictly `memmove`, so that overlapping buffers are harmless) into or out of a caller-owned buffer through a pointer the compiler cannot see
/// the other writers of (the memory was returned by `mmap` and is written by another thread
/// or by the CPU on the guest's behalf), so each call really performs its copy exactly once;
/// the value is then inspected only in the private copy, so a guest that changes the source
/// mid-inspection cannot cause a time-of-check/time-of-use bug. Code that needs ordering
/// against the guest (for example publishing a descriptor before an index) must add its own
/// fences.
///
/// The type is a value: copies share the same mappings (and so the same bytes). Layout changes
/// (``insert(_:)``, ``removeRegion(slot:)``) affect only the copy they are made on.
public struct GuestMemory: Sendable {
    /// The regions, sorted by ``GuestMemoryRegion/guestBase``, pairwise non-overlapping.
    public private(set) var regions: [GuestMemoryRegion]

    /// Creates guest memory with no regions.
    public init() {
        self.regions = []
    }

    /// Creates guest memory from a list of regions, in any order.
    ///
    /// - Parameter regions: The regions to add.
    /// - Throws: The first error ``insert(_:)`` reports.
    public init(regions: some Sequence<GuestMemoryRegion>) throws(GuestMemoryError) {
        self.regions = []
        for region in regions {
            try insert(region)
        }
    }

    // MARK: Layout

    /// Adds a region.
    ///
    /// - Parameter region: The region to add.
    /// - Throws: ``GuestMemoryError/duplicateSlot(_:)`` if its slot is taken,
    ///   ``GuestMemoryError/overlappingRegions(existing:new:)`` if it shares any address with
    ///   a region already present. (Zero-sized, misaligned and overflowing regions cannot be
    ///   constructed: see ``MemoryMapping/init(byteCount:)`` and ``GuestMemoryRegion``.)
    public mutating func insert(_ region: GuestMemoryRegion) throws(GuestMemoryError) {
        if regions.contains(where: { $0.slot == region.slot }) {
            throw .duplicateSlot(region.slot)
        }
        let index = countOfRegions(startingAtOrBelow: region.guestBase)
        if index > 0, regions[index - 1].overlaps(region) {
            throw .overlappingRegions(existing: regions[index - 1].guestBase, new: region.guestBase)
        }
        if index < regions.count, regions[index].overlaps(region) {
            throw .overlappingRegions(existing: regions[index].guestBase, new: region.guestBase)
        }
        regions.insert(region, at: index)
    }

    /// Removes the region with the given slot number.
    ///
    /// - Parameter slot: The KVM slot number.
    /// - Returns: The removed region, or `nil` if no region has that slot.
    @discardableResult
    public mutating func removeRegion(slot: UInt32) -> GuestMemoryRegion? {
        guard let index = regions.firstIndex(where: { $0.slot == slot }) else { return nil }
        return regions.remove(at: index)
    }

    /// The region occupying KVM slot `slot`.
    ///
    /// - Parameter slot: The KVM slot number.
    /// - Returns: The region, or `nil` if no region has that slot.
    public func region(slot: UInt32) -> GuestMemoryRegion? {
        regions.first { $0.slot == slot }
    }

    /// The region that contains `address`, found by binary search.
    ///
    /// - Parameter address: A guest-physical address.
    /// - Returns: The region, or `nil` if the address is not backed.
    public func region(containing address: GuestAddress) -> GuestMemoryRegion? {
        regionIndex(containing: address).map { regions[$0] }
    }

    /// The number of regions whose base is at or below `address` (the index where a region
    /// based at `address` would be inserted, after any region with an equal base).
    private func countOfRegions(startingAtOrBelow address: GuestAddress) -> Int {
        var low = 0
        var high = regions.count
        while low < high {
            let middle = low + (high - low) / 2
            if regions[middle].guestBase <= address {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }

    private func regionIndex(containing address: GuestAddress) -> Int? {
        let count = countOfRegions(startingAtOrBelow: address)
        guard count > 0, regions[count - 1].contains(address) else { return nil }
        return count - 1
    }

    // MARK: Range validation

    /// Checks that `length` bytes from `address` are all backed by contiguous regions.
    ///
    /// - Returns: The index of the region holding the first byte, or `nil` for an empty range.
    func validateRange(
        at address: GuestAddress, length: Int
    ) throws(GuestMemoryError) -> Int? {
        guard length >= 0 else { throw .negativeLength(length) }
        guard length > 0 else { return nil }
        let byteCount = UInt64(length)
        guard address.adding(byteCount - 1) != nil else {
            throw .rangeOverflow(start: address, length: byteCount)
        }
        guard let first = regionIndex(containing: address) else {
            throw .addressNotMapped(address)
        }
        var index = first
        var cursor = address
        var remaining = byteCount
        while true {
            let region = regions[index]
            // cursor is inside region, so this is at most region.size and cannot overflow.
            let available = region.lastAddress.rawValue - cursor.rawValue + 1
            if remaining <= available { return first }
            remaining -= available
            // Bytes remain and the range's last byte is <= UInt64.max, so lastAddress + 1
            // cannot overflow.
            cursor = GuestAddress(region.lastAddress.rawValue + 1)
            let next = index + 1
            guard next < regions.count, regions[next].guestBase == cursor else {
                throw .addressNotMapped(cursor)
            }
            index = next
        }
    }

    /// Visits the host memory behind a range that ``validateRange(at:length:)`` accepted.
    ///
    /// `body` receives the host address of each piece, the piece's offset within the range,
    /// and its length; the pieces cover the range in order.
    func forEachPiece(
        startingIn first: Int, at address: GuestAddress, length: Int,
        _ body: (_ host: UnsafeMutableRawPointer, _ rangeOffset: Int, _ count: Int) -> Void
    ) {
        var index = first
        var cursor = address
        var done = 0
        while done < length, index < regions.count {
            let region = regions[index]
            // validateRange established that cursor lies in this region and that the region
            // is no larger than Int.max (it is a MemoryMapping), so these fit in Int.
            let offset = Int(cursor.rawValue - region.guestBase.rawValue)
            let count = min(length - done, region.mapping.byteCount - offset)
            // SAFETY: 0 <= offset < byteCount and offset + count <= byteCount, so the pointer
            // and the `count` bytes after it lie inside the live mapping (kept alive by
            // `regions`, which `self` holds for the duration of this call).
            unsafe body(region.mapping.base + offset, done, count)
            done += count
            cursor = GuestAddress(cursor.rawValue &+ UInt64(count))
            index += 1
        }
    }

    // MARK: Byte access

    /// Copies guest memory into `buffer`, filling all of it.
    ///
    /// - Parameters:
    ///   - buffer: Where to copy to; `buffer.count` bytes are read.
    ///   - address: The guest-physical address of the first byte.
    /// - Throws: ``GuestMemoryError`` if any byte of the range is not backed; nothing is
    ///   copied then.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at address: GuestAddress)
        throws(GuestMemoryError)
    {
        guard let first = try validateRange(at: address, length: buffer.count) else { return }
        // SAFETY: the range was validated for exactly buffer.count bytes, and copyOut writes
        // only buffer.count bytes into the caller's buffer.
        unsafe copyOut(from: first, at: address, into: buffer)
    }

    /// Copies `buffer` into guest memory.
    ///
    /// - Parameters:
    ///   - buffer: The bytes to write.
    ///   - address: The guest-physical address of the first byte.
    /// - Throws: ``GuestMemoryError`` if any byte of the range is not backed; nothing is
    ///   written then.
    public func write(_ buffer: UnsafeRawBufferPointer, at address: GuestAddress)
        throws(GuestMemoryError)
    {
        guard let first = try validateRange(at: address, length: buffer.count) else { return }
        // SAFETY: the range was validated for exactly buffer.count bytes, and copyIn reads
        // only buffer.count bytes from the caller's buffer.
        unsafe copyIn(buffer, from: first, at: address)
    }

    /// Reads `count` bytes of guest memory into a new array.
    ///
    /// The range is validated before the array is allocated, so a huge `count` fails cleanly.
    ///
    /// - Parameters:
    ///   - address: The guest-physical address of the first byte.
    ///   - count: The number of bytes to read.
    /// - Returns: A snapshot of the bytes.
    /// - Throws: ``GuestMemoryError`` if `count` is negative or any byte is not backed.
    public func readBytes(at address: GuestAddress, count: Int) throws(GuestMemoryError) -> [UInt8] {
        guard let first = try validateRange(at: address, length: count) else { return [] }
        // SAFETY: see the closure: every one of the `count` elements is initialized.
        return unsafe [UInt8](unsafeUninitializedCapacity: count) { buffer, initializedCount in
            // SAFETY: the array's storage has room for `count` bytes, exactly what copyOut
            // writes (the validated range is `count` bytes long); UInt8 is trivial, so raw
            // copying initializes it.
            unsafe copyOut(from: first, at: address, into: UnsafeMutableRawBufferPointer(buffer))
            initializedCount = count
        }
    }

    /// Writes `bytes` into guest memory.
    ///
    /// - Parameters:
    ///   - bytes: The bytes to write.
    ///   - address: The guest-physical address of the first byte.
    /// - Throws: ``GuestMemoryError`` if any byte of the range is not backed; nothing is
    ///   written then.
    public func write(bytes: [UInt8], at address: GuestAddress) throws(GuestMemoryError) {
        guard let first = try validateRange(at: address, length: bytes.count) else { return }
        // SAFETY: the buffer is the array's own storage, valid during the closure, and the
        // range was validated for exactly bytes.count bytes.
        unsafe bytes.withUnsafeBytes { buffer in
            unsafe copyIn(buffer, from: first, at: address)
        }
    }

    // MARK: Typed access

    /// Reads a value of type `T` from guest memory, in host (little-endian) byte order.
    ///
    /// The address need not be aligned, and the value may straddle contiguous regions.
    ///
    /// The guest controls the bytes, so `T` must be valid for *every* bit pattern: integers,
    /// floating-point numbers, and structs or tuples made only of those (such as KVM records).
    /// Do not load types with invalid bit patterns (`Bool`, enums, non-optional pointers)
    /// this way; load the raw integer and validate it instead.
    ///
    /// - Parameters:
    ///   - type: The type to read, such as `UInt32.self`.
    ///   - address: The guest-physical address of the value's first byte.
    /// - Returns: The value, assembled from a byte-wise snapshot.
    /// - Throws: ``GuestMemoryError`` if any of its bytes is not backed.
    public func load<T: BitwiseCopyable>(_ type: T.Type = T.self, at address: GuestAddress)
        throws(GuestMemoryError) -> T
    {
        let size = MemoryLayout<T>.size
        let first = try validateRange(at: address, length: size)
        if let first {
            let region = regions[first]
            let offset = Int(address.rawValue - region.guestBase.rawValue)
            if offset <= region.mapping.byteCount - size {
                // SAFETY: validateRange put `address` in this region, and the check above
                // puts all `size` bytes from `offset` inside the live mapping; loadUnaligned
                // has no alignment requirement, and T is BitwiseCopyable and (by the documented
                // contract) valid for any bit pattern.
                return unsafe region.mapping.base.loadUnaligned(fromByteOffset: offset, as: T.self)
            }
        }
        // Straddles a region boundary (or T is empty): assemble the bytes in a scratch buffer.
        // SAFETY: the scratch buffer lives for the closure only and nothing escapes it but the
        // loaded value.
        return unsafe withUnsafeTemporaryAllocation(byteCount: max(size, 1), alignment: 1) { scratch in
            if let first {
                // SAFETY: scratch has at least `size` bytes; the range was validated.
                unsafe copyOut(from: first, at: address, into: UnsafeMutableRawBufferPointer(rebasing: scratch[0 ..< size]))
            }
            // SAFETY: scratch holds `size` initialized bytes (or T is empty); T is
            // BitwiseCopyable and, by the documented contract, valid for any bit pattern.
            return unsafe UnsafeRawBufferPointer(scratch).loadUnaligned(as: T.self)
        }
    }

    /// Writes `value` into guest memory, in host (little-endian) byte order.
    ///
    /// The address need not be aligned, and the value may straddle contiguous regions.
    ///
    /// - Parameters:
    ///   - value: The value to store.
    ///   - address: The guest-physical address of its first byte.
    /// - Throws: ``GuestMemoryError`` if any of its bytes is not backed; nothing is written then.
    public func store<T: BitwiseCopyable>(_ value: T, at address: GuestAddress) throws(GuestMemoryError) {
        let size = MemoryLayout<T>.size
        guard let first = try validateRange(at: address, length: size) else { return }
        let region = regions[first]
        let offset = Int(address.rawValue - region.guestBase.rawValue)
        if offset <= region.mapping.byteCount - size {
            // SAFETY: all `size` bytes from `offset` lie in the live mapping (checked above);
            // storeBytes has no alignment requirement for BitwiseCopyable values.
            unsafe region.mapping.base.storeBytes(of: value, toByteOffset: offset, as: T.self)
            return
        }
        // SAFETY: `bytes` is the value's own MemoryLayout<T>.size bytes, the validated length.
        unsafe Swift.withUnsafeBytes(of: value) { bytes in
            unsafe copyIn(bytes, from: first, at: address)
        }
    }

    // MARK: In-place access

    /// Calls `body` with direct access to `count` bytes of guest memory at `address`.
    ///
    /// Unlike the copying accessors, the range must lie inside a single region, because only
    /// then is it one contiguous piece of host memory. The buffer is valid only during `body`,
    /// and the guest may change the bytes concurrently (see the type's discussion).
    ///
    /// - Parameters:
    ///   - address: The guest-physical address of the first byte.
    ///   - count: The number of bytes; 0 passes an empty buffer.
    ///   - body: A closure that reads or writes the bytes in place.
    /// - Returns: What `body` returns.
    /// - Throws: ``GuestMemoryError/negativeLength(_:)``,
    ///   ``GuestMemoryError/rangeOverflow(start:length:)``,
    ///   ``GuestMemoryError/addressNotMapped(_:)`` (for the first byte),
    ///   ``GuestMemoryError/lengthTooLarge(requested:available:)`` if the range runs past the
    ///   end of the region holding its first byte, or whatever `body` throws.
    public func withUnsafeMutableBytes<Result>(
        at address: GuestAddress, count: Int,
        _ body: (UnsafeMutableRawBufferPointer) throws -> Result
    ) throws -> Result {
        guard count >= 0 else { throw GuestMemoryError.negativeLength(count) }
        guard count > 0 else {
            // SAFETY: an empty buffer grants access to no memory at all.
            return try unsafe body(UnsafeMutableRawBufferPointer(start: nil, count: 0))
        }
        let length = UInt64(count)
        guard address.adding(length - 1) != nil else {
            throw GuestMemoryError.rangeOverflow(start: address, length: length)
        }
        guard let index = regionIndex(containing: address) else {
            throw GuestMemoryError.addressNotMapped(address)
        }
        let region = regions[index]
        let available = region.lastAddress.rawValue - address.rawValue + 1
        guard length <= available else {
            throw GuestMemoryError.lengthTooLarge(requested: length, available: available)
        }
        let offset = Int(address.rawValue - region.guestBase.rawValue)
        // SAFETY: offset + count <= byteCount (checked just above), so the buffer lies in the
        // live mapping, which `regions` keeps alive until this call returns.
        return try unsafe body(UnsafeMutableRawBufferPointer(start: region.mapping.base + offset, count: count))
    }

    // MARK: Copy helpers

    /// Copies a validated range out to `buffer` (whose count is the range's length).
    private func copyOut(from first: Int, at address: GuestAddress, into buffer: UnsafeMutableRawBufferPointer) {
        guard let destination = buffer.baseAddress else { return }
        // SAFETY: the closure receives only in-bounds pieces (see forEachPiece).
        unsafe forEachPiece(startingIn: first, at: address, length: buffer.count) { host, rangeOffset, count in
            // SAFETY: forEachPiece yields pieces inside the mapping, and rangeOffset + count <=
            // buffer.count, so both ends are in bounds. memmove rather than memcpy because a
            // caller may pass a buffer that itself points into guest memory.
            _ = unsafe memmove(destination + rangeOffset, host, count)
        }
    }

    /// Copies `buffer` into a validated range (whose length is `buffer.count`).
    private func copyIn(_ buffer: UnsafeRawBufferPointer, from first: Int, at address: GuestAddress) {
        guard let source = buffer.baseAddress else { return }
        // SAFETY: the closure receives only in-bounds pieces (see forEachPiece).
        unsafe forEachPiece(startingIn: first, at: address, length: buffer.count) { host, rangeOffset, count in
            // SAFETY: as in copyOut, both ranges are in bounds; memmove tolerates a source
            // buffer that was itself borrowed from guest memory and overlaps the destination.
            _ = unsafe memmove(host, source + rangeOffset, count)
        }
    }
}
