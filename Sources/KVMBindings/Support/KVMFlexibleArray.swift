/// A C record that ends in a flexible array member (`struct kvm_msrs { __u32 nmsrs; ...; entries[]; }`).
/// The generator makes every such header conform.
public protocol KVMFlexibleArrayHeader: KVMRecord {
    /// The flexible array's element type.
    associatedtype Element: BitwiseCopyable
    /// Where the first element starts, from the start of the header (clang's offset of the member).
    static var elementsOffset: Int { get }
    /// The element count the header's count field declares, when it has one (`nmsrs`, `nent`, ...).
    var declaredElementCount: Int? { get }
    /// Sets the header's count field, when it has one; does nothing otherwise.
    mutating func setDeclaredElementCount(_ count: Int)
}

/// A header with `capacity` elements after it, in one allocation aligned for both: what the kernel
/// expects for ioctls such as `KVM_GET_MSRS`, `KVM_SET_CPUID2` or `KVM_SET_GSI_ROUTING`.
///
/// It is a value type: copies share storage until one of them is mutated.
public struct KVMFlexibleArray<Header: KVMFlexibleArrayHeader>: Sendable {
    @usableFromInline
    final class Storage: @unchecked Sendable {
        // @unchecked: the buffer is only mutated through a uniquely referenced Storage (copy on write),
        // so no two threads can write it, or read it while it is written.
        @usableFromInline let pointer: UnsafeMutableRawPointer
        @usableFromInline let byteCount: Int
        @usableFromInline let capacity: Int

        init(capacity: Int) {
            self.capacity = capacity
            let end = Header.elementsOffset + capacity * MemoryLayout<Header.Element>.stride
            let alignment = max(MemoryLayout<Header>.alignment, MemoryLayout<Header.Element>.alignment)
            let size = max(MemoryLayout<Header>.size, end)
            byteCount = (size + alignment - 1) / alignment * alignment
            pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: alignment)
            // SAFETY: the allocation is `byteCount` bytes; zeroing all of it makes every byte initialized.
            pointer.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
        }

        func copy() -> Storage {
            let new = Storage(capacity: capacity)
            // SAFETY: both buffers are `byteCount` bytes and do not overlap.
            new.pointer.copyMemory(from: pointer, byteCount: byteCount)
            return new
        }

        deinit { pointer.deallocate() }
    }

    @usableFromInline var storage: Storage

    /// A zeroed header followed by `capacity` zeroed elements; the header's count field, if it has one,
    /// is set to `capacity`.
    public init(capacity: Int) {
        precondition(capacity >= 0, "capacity must not be negative")
        storage = Storage(capacity: capacity)
        header.setDeclaredElementCount(capacity)
    }

    /// `header` followed by `elements`; the header's count field, if it has one, is set to their number.
    public init(header: Header = Header(), elements: [Header.Element]) {
        storage = Storage(capacity: elements.count)
        self.header = header
        self.header.setDeclaredElementCount(elements.count)
        for (index, element) in elements.enumerated() { self[index] = element }
    }

    /// How many elements the buffer has room for.
    public var capacity: Int { storage.capacity }

    /// The size in bytes passed to the kernel.
    public var byteCount: Int { storage.byteCount }

    /// The header.
    public var header: Header {
        get {
            // SAFETY: the buffer starts with a header's bytes, aligned for Header.
            storage.pointer.load(as: Header.self)
        }
        set {
            makeUnique()
            // SAFETY: as above; Header is BitwiseCopyable, so storing its bytes is a complete write.
            storage.pointer.storeBytes(of: newValue, as: Header.self)
        }
    }

    /// The element at `index` (0 ..< capacity).
    public subscript(index: Int) -> Header.Element {
        get {
            precondition(index >= 0 && index < capacity, "index \(index) out of 0..<\(capacity)")
            // SAFETY: the index is in bounds (checked), so the element lies inside the allocation.
            return storage.pointer.loadUnaligned(fromByteOffset: Self.offset(of: index), as: Header.Element.self)
        }
        set {
            precondition(index >= 0 && index < capacity, "index \(index) out of 0..<\(capacity)")
            makeUnique()
            // SAFETY: as above.
            storage.pointer.storeBytes(of: newValue, toByteOffset: Self.offset(of: index), as: Header.Element.self)
        }
    }

    /// The elements the header declares (clamped to the capacity), or all of them when it has no count.
    public var elements: [Header.Element] {
        let count = min(max(header.declaredElementCount ?? capacity, 0), capacity)
        return (0..<count).map { self[$0] }
    }

    /// Calls `body` with the buffer's address, for an ioctl that may write it.
    @inlinable
    public mutating func withUnsafeMutableRawPointer<Result, Failure: Error>(
        _ body: (UnsafeMutableRawPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        makeUnique()
        return try body(storage.pointer)
    }

    @usableFromInline
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    static func offset(of index: Int) -> Int { Header.elementsOffset + index * MemoryLayout<Header.Element>.stride }
}
