// Fuzzing the loader's decompressors and image parsers with corrupted copies of valid streams, reproducibly.

/// Feeds `decode` `rounds` corrupted variants of `seeds` (taken in turn): 1 to 4 random bytes after the
/// first `keeping` (the magic or header, kept so the decoder proper is exercised) are overwritten, and
/// every fifth variant is also cut short. Returns how many variants `decode` rejected; a trap fails the
/// whole test run, which is the point.
func rejectedMutations(
    of seeds: [[UInt8]], keeping prefix: Int, seed: UInt64, rounds: Int = 2000, decode: ([UInt8]) throws -> Void
) -> Int {
    var state = seed
    func next() -> Int {  // a 64-bit LCG (Knuth's MMIX constants); the high bits are the good ones
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int(truncatingIfNeeded: state >> 33)
    }
    var rejected = 0
    for round in 0..<rounds {
        var stream = seeds[round % seeds.count]
        for _ in 0..<(1 + next() % 4) {
            stream[prefix + next() % (stream.count - prefix)] = UInt8(truncatingIfNeeded: next())
        }
        if round % 5 == 0 { stream.removeLast(next() % (stream.count - prefix)) }
        do { try decode(stream) } catch { rejected += 1 }
    }
    return rejected
}
