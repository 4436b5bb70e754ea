/// The campaigns' seeded generator (SplitMix64): every case draws from its own stream, derived from
/// the campaign seed and the case's iteration number, so any one case can be regenerated alone
/// (`kvm-fuzz describe`) and a run is the same for the same seed.
struct FuzzRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// The stream for case `iteration` of a campaign run with `seed`.
    init(seed: UInt64, iteration: Int, stream: UInt64 = 0) {
        var mixer = FuzzRandom(seed: seed ^ 0x6A09_E667_F3BC_C908 &+ stream &* 0xD1B5_4A32_D192_ED03)
        for _ in 0..<(iteration & 0xF) { _ = mixer.next() }
        state = mixer.next() ^ (UInt64(iteration) &* 0x9E37_79B9_7F4A_7C15)
        _ = next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// True with probability `percent`/100.
    mutating func chance(_ percent: Int) -> Bool { Int(next() % 100) < percent }

    /// A uniformly random element (the collection must not be empty).
    mutating func pick<C: Collection>(_ items: C) -> C.Element { items.randomElement(using: &self)! }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }

    /// A 64-bit value biased toward the values that find bugs: 0, all-ones, small, powers of two,
    /// sign boundaries, and otherwise uniform.
    mutating func interesting64() -> UInt64 {
        switch next() % 8 {
        case 0: return pick([0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x1_0000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF])
        case 1: return pick([UInt64.max, UInt64.max - 1, 1 << 63, (1 << 63) - 1, 0x0000_8000_0000_0000, 0xFFFF_8000_0000_0000])
        case 2: return 1 << (next() % 64)
        case 3: return next() % 0x1_0000
        case 4: return next() % 0x10_0000
        default: return next()
        }
    }
}
