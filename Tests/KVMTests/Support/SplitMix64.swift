import TestSupport

// SplitMix64 itself is TestSupport's, shared with the other test targets.

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
