import KVM
import Testing
import VirtioQueue
import TestSupport


@Suite("Split virtqueue against random rings")
struct HostileRingTests {
    @Test("Random descriptor tables never make the queue touch memory outside RAM; every accepted chain is well formed",
          arguments: 1 ... 8 as ClosedRange<UInt64>)
    func randomTables(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        var driver = try VirtioDriverModel(size: 32)
        var queue = try driver.deviceQueue()
        let ram = driver.ramBase ..< driver.ramEnd
        // Addresses: mostly inside RAM, some near its edges, some wild; lengths: small, zero, huge.
        func address() -> UInt64 {
            switch UInt8.random(in: 0 ..< 8, using: &random) {
            case 0: return UInt64.random(in: 0 ... .max, using: &random)
            case 1: return driver.ramEnd - UInt64.random(in: 0 ..< 64, using: &random)
            case 2: return driver.ramBase + 0x30_0000 - 16 * UInt64.random(in: 0 ..< 4, using: &random)
            default: return UInt64.random(in: driver.ramBase + 0x30_0000 ..< driver.ramEnd, using: &random)
            }
        }
        func length() -> UInt32 {
            switch UInt8.random(in: 0 ..< 6, using: &random) {
            case 0: return 0
            case 1: return UInt32.random(in: 0 ... .max, using: &random)
            case 2: return 16 * UInt32.random(in: 0 ..< 8, using: &random)
            default: return UInt32.random(in: 1 ... 4096, using: &random)
            }
        }
        // A few indirect tables full of random descriptors.
        let tables = (0 ..< 4).map { driver.ramBase + 0x30_0000 + UInt64($0) * 0x1000 }
        for table in tables {
            for index in 0 ..< 8 {
                try driver.writeDescriptor(
                    VirtqueueDescriptor(
                        address: address(), length: length(), flags: .init(rawValue: UInt16.random(in: 0 ..< 8, using: &random)),
                        next: UInt16.random(in: 0 ..< 10, using: &random)),
                    index: UInt16(index), table: GuestAddress(table))
            }
        }
        var accepted = 0, rejected = 0
        for _ in 0 ..< 200 {
            for index in 0 ..< driver.size {
                let useTable = Bool.random(using: &random) && Bool.random(using: &random)
                try driver.writeDescriptor(
                    VirtqueueDescriptor(
                        address: useTable ? tables.randomElement(using: &random)! : address(),
                        length: useTable ? 16 * UInt32.random(in: 0 ... 9, using: &random) : length(),
                        flags: .init(rawValue: UInt16.random(in: 0 ..< 16, using: &random)),
                        next: UInt16.random(in: 0 ..< 40, using: &random)),
                    index: index)
            }
            try driver.publish(head: UInt16.random(in: 0 ..< 40, using: &random))
            do {
                guard let chain = try queue.popAvailable() else { Issue.record("a published head was not seen"); continue }
                accepted += 1
                for buffer in chain.readable + chain.writable where buffer.length > 0 {
                    #expect(ram.contains(buffer.address.rawValue))
                    #expect(buffer.address.rawValue + UInt64(buffer.length) <= driver.ramEnd)
                }
                #expect(chain.readableLength + chain.writableLength <= 2 * Int(UInt32.max))
                try queue.addUsed(head: chain.head, length: 0)
            } catch {
                rejected += 1
            }
        }
        // Both outcomes happen, so the test exercises the checks rather than one path.
        #expect(accepted > 0 && rejected > 0, "accepted \(accepted), rejected \(rejected)")
    }
}
