/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator, so every
/// run builds and measures exactly the same bytes.
///
/// The helpers below draw from `next()` with plain arithmetic rather than the
/// standard library's `random(in:using:)`, whose algorithm may change between
/// toolchains; the workload stays byte-identical across Swift versions.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
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

    /// A uniform integer in `range` (the modulo bias is below 2⁻⁴⁰ for the small ranges used here).
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let width = UInt64(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int(next() % width)
    }

    /// True with probability `probability` (0…1).
    public mutating func chance(_ probability: Double) -> Bool {
        // 53 random bits as a double in [0, 1).
        Double(next() >> 11) * 0x1p-53 < probability
    }

    /// A uniformly chosen element of a non-empty array.
    public mutating func element<T>(of array: [T]) -> T {
        array[int(in: 0...(array.count - 1))]
    }

    /// `count` random lowercase hex digits.
    public mutating func hex(_ count: Int) -> String {
        let digits = Array("0123456789abcdef")
        return String((0..<count).map { _ in digits[int(in: 0...15)] })
    }
}
