@testable import FleetCollector
import FleetTestSupport
import Histogram
import Testing

/// The summaries' duration percentiles against an HdrHistogram fed the raw values, in both of the
/// accumulator's modes (sparse for few distinct values, dense counts per HDR bucket for many) and
/// from both of its inputs (raw durations and bucket blobs).
@Suite("Duration percentiles")
struct DurationAccumulatorTests {
    static let percentiles: [Double] = [1, 25, 50, 90, 95, 99, 99.9]

    /// Durations in microseconds: `distinct` different values spread from 1 µs to minutes.
    static func durations(count: Int, distinct: Int, seed: UInt64) -> [UInt64] {
        var rng = SplitMix64(seed: seed)
        let values = (0..<distinct).map { _ -> UInt64 in
            // A random power of two, then a random value up to the next: every HDR bucket size is used.
            let power = UInt64(1) << (rng.next() % 27)
            return power + rng.next() % power
        }
        return (0..<count).map { _ in values[Int(rng.next() % UInt64(distinct))] }
    }

    /// The accumulator's percentiles equal HDR's, but for one case: HDR caps a percentile at the
    /// largest value recorded, which bucket blobs do not keep; the accumulator then reports the
    /// top of that value's bucket.
    static func expectHDRPercentiles(_ accumulator: DurationAccumulator, _ reference: Histogram<UInt64>) {
        for p in percentiles {
            let ours = UInt64((accumulator.percentileMs(p) * 1000).rounded())
            let hdr = reference.valueAtPercentile(p)
            if hdr == reference.maxRecorded && ours != hdr {
                #expect(ours == reference.highestEquivalentForValue(hdr), "p\(p)")
            } else {
                #expect(ours == hdr, "p\(p)")
            }
        }
    }

    static func reference(_ micros: [UInt64]) -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(highestTrackableValue: HistogramBlob.maxMicros, numberOfSignificantValueDigits: .three)
        for value in micros { _ = histogram.record(value) }
        return histogram
    }

    @Test("recorded durations give HDR's percentiles", arguments: [(5_000, 40), (60_000, 9_000)])
    func recorded(count: Int, distinct: Int) {
        let micros = Self.durations(count: count, distinct: distinct, seed: UInt64(distinct))
        var accumulator = DurationAccumulator()
        for value in micros { accumulator.record(ms: Double(value) / 1000) }
        let reference = Self.reference(micros)
        #expect(accumulator.count == count)
        Self.expectHDRPercentiles(accumulator, reference)
    }

    @Test("merged bucket blobs give HDR's percentiles", arguments: [(3, 30), (40, 9_000), (400, 20_000)])
    func merged(blobs: Int, distinct: Int) {
        let micros = Self.durations(count: blobs * 500, distinct: distinct, seed: UInt64(blobs))
        var accumulator = DurationAccumulator()
        // A few raw durations first, as a window's raw edges come before its buckets.
        for value in micros.prefix(100) { accumulator.record(ms: Double(value) / 1000) }
        var start = 100
        while start < micros.count {
            let end = min(start + 500, micros.count)
            accumulator.merge(encoded: HistogramBlob.encode(HistogramBlob.pairs(ofMicros: Array(micros[start..<end]))), sumMs: 0)
            start = end
        }
        let reference = Self.reference(micros)
        #expect(accumulator.count == micros.count)
        Self.expectHDRPercentiles(accumulator, reference)
    }

    @Test("a truncated blob adds its whole pairs and stops")
    func truncatedBlob() {
        var blob = HistogramBlob.encode([(value: 5, count: 2), (value: 300_000, count: 1)])
        blob.removeLast()
        var counts = [UInt64](repeating: 0, count: HistogramBlob.bucketCount)
        let result = HistogramBlob.add(blob, toCounts: &counts)
        #expect(result.added == 2)
        #expect(result.low == 5 && result.high == 5)
        #expect(counts.reduce(0, +) == 2)
    }
}
