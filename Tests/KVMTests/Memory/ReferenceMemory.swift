@testable import KVM

/// A deliberately naive model of ``GuestMemory``: plain byte arrays, checked one byte at a
/// time, against which the real implementation is compared.
struct ReferenceMemory {
    struct Region {
        var base: UInt64
        var bytes: [UInt8]
    }

    var regions: [Region]

    /// Region index and offset for one address.
    func locate(_ address: UInt64) -> (region: Int, offset: Int)? {
        for (index, region) in regions.enumerated()
        where address >= region.base && address - region.base < UInt64(region.bytes.count) {
            return (index, Int(address - region.base))
        }
        return nil
    }

    /// The error a range access must fail with, or nil if it must succeed.
    func rangeError(at address: UInt64, length: Int) -> GuestMemoryError? {
        if length < 0 { return .negativeLength(length) }
        if length == 0 { return nil }
        if UInt64(length - 1) > UInt64.max - address {
            return .rangeOverflow(start: GuestAddress(address), length: UInt64(length))
        }
        // Terminates: either some byte is unmapped, or length <= total mapped bytes.
        for index in 0 ..< UInt64(length) where locate(address + index) == nil {
            return .addressNotMapped(GuestAddress(address + index))
        }
        return nil
    }

    func read(at address: UInt64, count: Int) -> Result<[UInt8], GuestMemoryError> {
        if let error = rangeError(at: address, length: count) { return .failure(error) }
        return .success((0 ..< count).map { index in
            let (region, offset) = locate(address + UInt64(index))!
            return regions[region].bytes[offset]
        })
    }

    mutating func write(_ bytes: [UInt8], at address: UInt64) -> GuestMemoryError? {
        if let error = rangeError(at: address, length: bytes.count) { return error }
        for (index, byte) in bytes.enumerated() {
            let (region, offset) = locate(address + UInt64(index))!
            regions[region].bytes[offset] = byte
        }
        return nil
    }

    /// The error `withUnsafeMutableBytes(at:count:)` must fail with, or nil.
    func singleRegionError(at address: UInt64, count: Int) -> GuestMemoryError? {
        if count < 0 { return .negativeLength(count) }
        if count == 0 { return nil }
        if UInt64(count - 1) > UInt64.max - address {
            return .rangeOverflow(start: GuestAddress(address), length: UInt64(count))
        }
        guard let (region, offset) = locate(address) else {
            return .addressNotMapped(GuestAddress(address))
        }
        let available = UInt64(regions[region].bytes.count - offset)
        if UInt64(count) > available {
            return .lengthTooLarge(requested: UInt64(count), available: available)
        }
        return nil
    }
}
