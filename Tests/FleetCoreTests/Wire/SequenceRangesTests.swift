import FleetTestSupport
import FleetCore
import Testing

@Suite("SequenceRanges")
struct SequenceRangesTests {
    @Test("merges overlapping and adjacent ranges, answers membership and counts")
    func basics() {
        var r = SequenceRanges()
        r.insert(10...20)
        r.insert(30...40)
        r.insert(21...25)
        #expect(r.ranges == [10...25, 30...40])
        r.insert(26...29)
        #expect(r.ranges == [10...40])
        r.insert(1...3)
        r.insert(50...UInt64.max)
        r.insert(41...49)
        #expect(r.ranges == [1...3, 10...UInt64.max])
        #expect(r.contains(2) && !r.contains(5) && r.contains(.max))
        #expect(r.covers(10...100) && !r.covers(3...10))
        #expect(r.count(in: 0...12) == 6)
        r.removeBelow(11)
        #expect(r.ranges == [11...UInt64.max])
    }

    @Test("random inserts agree with a set")
    func randomAgainstSet() {
        var rng = SplitMix64(seed: 4)
        for _ in 0..<200 {
            var ranges = SequenceRanges()
            var set = Set<UInt64>()
            for _ in 0..<20 {
                let lo = UInt64.random(in: 0...200, using: &rng)
                let hi = lo + UInt64.random(in: 0...15, using: &rng)
                ranges.insert(lo...hi)
                set.formUnion(lo...hi)
            }
            for v in UInt64(0)...220 { #expect(ranges.contains(v) == set.contains(v)) }
            #expect(ranges.count(in: 0...220) == UInt64(set.count))
            for (a, b) in zip(ranges.ranges, ranges.ranges.dropFirst()) { #expect(a.upperBound + 1 < b.lowerBound) }
        }
    }
}
