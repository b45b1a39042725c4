@testable import FleetCollector
import FleetTestSupport
import Testing

/// The sparse histogram blobs of the summary buckets against plain counting.
@Suite("Histogram blobs")
struct HistogramBlobTests {
    @Test("bucket indexes are dense, ordered and invert to the normalised value")
    func bucketIndexes() {
        var previous = -1
        var value: UInt64 = 0
        while value <= HistogramBlob.maxMicros {
            let n = HistogramBlob.normalized(value)
            let i = HistogramBlob.bucketIndex(n)
            #expect(i == previous || i == previous + 1, "value \(value)")
            #expect(HistogramBlob.bucketValue(i) == n)
            previous = i
            value = value < 4096 ? value + 1 : value + value / 3000 + 1
        }
        #expect(previous == HistogramBlob.bucketCount - 1)
    }

    @Test("merging many lists at once equals merging them two by two, and leaves the scratch zeroed")
    func mergeAll() {
        var rng = SplitMix64(seed: 9)
        var scratch: [UInt64] = []
        for round in 0..<50 {
            // Dense (many pairs in a narrow range) and sparse (few pairs over a wide one).
            let lists = (0..<(round % 12)).map { _ in
                HistogramBlob.pairs(ofMicros: (0..<Int(rng.next() % (round % 2 == 0 ? 300 : 5))).map { _ in rng.next() % (round % 2 == 0 ? 5_000 : HistogramBlob.maxMicros) })
            }
            let expected = lists.reduce(into: HistogramBlob.Pairs()) { $0 = HistogramBlob.merge($0, $1) }
            let merged = HistogramBlob.mergeAll(lists, scratch: &scratch)
            #expect(merged.map(\.value) == expected.map(\.value))
            #expect(merged.map(\.count) == expected.map(\.count))
            #expect(scratch.allSatisfy { $0 == 0 })
        }
    }
}
