/// SplitMix64: a small, fast, seedable generator, so a seed always yields the same inventory and faults.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    /// The position in the sequence: `SeededGenerator(seed: state)` continues exactly where this one is.
    private(set) var state: UInt64

    /// Creates a generator whose whole output sequence is fixed by `seed`.
    public init(seed: UInt64) {
        self.state = seed
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// True with probability `p` (0...1).
    public mutating func chance(_ p: Double) -> Bool {
        Double(next() >> 11) / Double(1 << 53) < p
    }

    /// One decimal digit in `range`.
    public mutating func digit(_ range: ClosedRange<Int> = 0...9) -> Character {
        Character(String(Int.random(in: range, using: &self)))
    }
}
