/// A small seeded random number generator (SplitMix64), so that property tests reproduce.
///
/// Every property test prints its seed (in hexadecimal) in failure messages; set
/// `KVM_TEST_SEED` to that value to replay a run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed for property tests: `KVM_TEST_SEED` from the environment if set, else a fixed one.
let propertyTestSeed: UInt64 = {
    if let text = ProcessEnvironment.value(of: "KVM_TEST_SEED"), let seed = UInt64(text, radix: 16) {
        return seed
    }
    return 0x5EED_0000_C0DE_F00D
}()

/// How many random cases a property test runs: `KVM_TEST_ITERATIONS` if set, else `default`.
func propertyTestIterations(default count: Int) -> Int {
    ProcessEnvironment.value(of: "KVM_TEST_ITERATIONS").flatMap { Int($0) } ?? count
}
