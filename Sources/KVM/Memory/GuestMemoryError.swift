/// Why an access to guest memory, or a change to the guest memory layout, was rejected.
///
/// Every ``GuestMemory`` operation validates the whole range before touching any byte, so an
/// access that fails with one of these errors has read or written nothing.
public enum GuestMemoryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No region backs this guest-physical address.
    ///
    /// For a range access, the payload is the first byte of the range that is not backed, so a
    /// range that runs off the end of a region reports the address just past that region.
    case addressNotMapped(GuestAddress)

    /// The range `start ..< start + length` does not fit below 2^64: its last byte would be
    /// beyond `UInt64.max`.
    case rangeOverflow(start: GuestAddress, length: UInt64)

    /// A byte count was negative.
    case negativeLength(Int)

    /// An access that must stay inside a single region (such as
    /// ``GuestMemory/withUnsafeMutableBytes(at:count:_:)``) asked for more bytes than the region
    /// holds from its start address.
    ///
    /// - Parameters:
    ///   - requested: The number of bytes asked for.
    ///   - available: The bytes from the start address to the end of its region.
    case lengthTooLarge(requested: UInt64, available: UInt64)

    /// A region's guest-physical base is not aligned to ``GuestMemoryRegion/pageSize``, which
    /// KVM requires of `guest_phys_addr`.
    case misalignedRegion(GuestAddress)

    /// A new region would overlap an existing one.
    ///
    /// - Parameters:
    ///   - existing: The guest-physical base of the region already present.
    ///   - new: The guest-physical base of the region being added.
    case overlappingRegions(existing: GuestAddress, new: GuestAddress)

    /// A new region would reuse a slot number that another region already has.
    case duplicateSlot(UInt32)

    /// No region occupies this slot number.
    case slotNotMapped(UInt32)

    /// A sentence describing the error.
    public var description: String {
        switch self {
        case .addressNotMapped(let address):
            return "guest address \(address) is not backed by any memory region"
        case .rangeOverflow(let start, let length):
            return "range of \(length) bytes at \(start) extends past the top of the address space"
        case .negativeLength(let length):
            return "negative length \(length)"
        case .lengthTooLarge(let requested, let available):
            return "length \(requested) exceeds the \(available) bytes left in the region"
        case .misalignedRegion(let base):
            return "region base \(base) is not aligned to \(GuestMemoryRegion.pageSize) bytes"
        case .overlappingRegions(let existing, let new):
            return "region at \(new) overlaps the region at \(existing)"
        case .duplicateSlot(let slot):
            return "memory slot \(slot) is already in use"
        case .slotNotMapped(let slot):
            return "memory slot \(slot) is not mapped"
        }
    }
}
