import Testing
import KVM

@Suite struct GuestAddressTests {
    @Test func checkedAddition() {
        let address: GuestAddress = 0x1000
        #expect(address.adding(0x10) == GuestAddress(0x1010))
        #expect(GuestAddress(UInt64.max).adding(0) == GuestAddress(UInt64.max))
        #expect(GuestAddress(UInt64.max).adding(1) == nil)
        #expect(GuestAddress(UInt64.max - 5).adding(5) == GuestAddress(UInt64.max))
        #expect(GuestAddress(UInt64.max - 5).adding(6) == nil)
        #expect(GuestAddress(1).adding(UInt64.max) == nil)
    }

    @Test func offsetAndAlignment() {
        #expect(GuestAddress(0x1234).offset(from: 0x1000) == 0x234)
        #expect(GuestAddress(0x1000).offset(from: 0x1234) == nil)
        #expect(GuestAddress(0x3000).isAligned(to: 0x1000))
        #expect(!GuestAddress(0x3001).isAligned(to: 0x1000))
        #expect(!GuestAddress(0x3000).isAligned(to: 0))
        #expect(!GuestAddress(0x3000).isAligned(to: 3))
    }

    @Test func orderingHashingAndDescription() {
        #expect(GuestAddress(1) < GuestAddress(2))
        #expect(Set<GuestAddress>([1, 1, 2]).count == 2)
        #expect(GuestAddress(0xfee0_0000).description == "0xfee00000")
        #expect(GuestAddress(rawValue: 7).rawValue == 7)
    }
}
