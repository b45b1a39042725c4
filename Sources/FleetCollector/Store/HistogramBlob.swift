import FleetCore
import GRDB

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Durations as stored in the summary buckets: a sparse HDR histogram
/// (three significant digits, microseconds). Each recorded value is
/// normalised to the lowest value of its HDR bucket, and the blob holds the
/// (value, count) pairs in ascending order as varints, values
/// delta-encoded. Two blobs merge in linear time without the histogram's
/// dense count array, which is what keeps bucket upserts cheap.
enum HistogramBlob {
    static let maxMicros = UInt64(EventLimits.maxDurationMs * 1000)

    /// Milliseconds to microseconds, clamped to the trackable range; nil for no value.
    static func micros(_ ms: Double?) -> UInt64? {
        guard let ms, ms.isFinite, ms >= 0 else { return nil }
        return UInt64(min(ms * 1000, Double(maxMicros)).rounded())
    }

    /// The lowest value of `micros`'s HDR bucket (2,048 sub-buckets: exact below 2,048 µs,
    /// then one part in 1,024).
    static func normalized(_ micros: UInt64) -> UInt64 {
        let magnitude = 63 - micros.leadingZeroBitCount
        let shift = max(0, magnitude - 10)
        return (micros >> shift) << shift
    }

    /// The highest value of `micros`'s HDR bucket (what HDR's valueAtPercentile reports).
    static func highestEquivalent(_ micros: UInt64) -> UInt64 {
        let shift = max(0, (63 - micros.leadingZeroBitCount) - 10)
        return normalized(micros) + (UInt64(1) << shift) - 1
    }

    /// Ascending (value, count) pairs.
    typealias Pairs = [(value: UInt64, count: UInt64)]

    /// Sorted, normalised pairs of raw microsecond values.
    static func pairs(ofMicros values: [UInt64]) -> Pairs {
        guard !values.isEmpty else { return [] }
        var pairs: Pairs = []
        for value in values.map(normalized).sorted() {
            if let last = pairs.last, last.value == value {
                pairs[pairs.count - 1].count += 1
            } else {
                pairs.append((value, 1))
            }
        }
        return pairs
    }

    /// Merges two ascending pair lists.
    static func merge(_ a: Pairs, _ b: Pairs) -> Pairs {
        if a.isEmpty { return b }
        if b.isEmpty { return a }
        // Written in place: no uniqueness or capacity check per pair as with `append`.
        return Pairs(unsafeUninitializedCapacity: a.count + b.count) { out, written in
            var i = 0
            var j = 0
            var n = 0
            while i < a.count && j < b.count {
                let x = a[i]
                let y = b[j]
                if x.value < y.value {
                    out.initializeElement(at: n, to: x)
                    i += 1
                } else if y.value < x.value {
                    out.initializeElement(at: n, to: y)
                    j += 1
                } else {
                    out.initializeElement(at: n, to: (x.value, x.count &+ y.count))
                    i += 1
                    j += 1
                }
                n += 1
            }
            while i < a.count {
                out.initializeElement(at: n, to: a[i])
                i += 1
                n += 1
            }
            while j < b.count {
                out.initializeElement(at: n, to: b[j])
                j += 1
                n += 1
            }
            written = n
        }
    }

    /// The position of a value's HDR bucket: values below 2,048 are their own bucket, then
    /// 1,024 buckets per power of two (the bits below a bucket's resolution do not matter, so
    /// the value need not be normalised).
    @inline(__always)
    static func bucketIndex(_ normalized: UInt64) -> Int {
        guard normalized >= 2048 else { return Int(normalized) }
        let shift = (63 - normalized.leadingZeroBitCount) - 10
        return 2048 + (shift - 1) * 1024 + Int(normalized >> shift) - 1024
    }

    /// The normalised value of bucket `index` (inverse of ``bucketIndex(_:)``).
    static func bucketValue(_ index: Int) -> UInt64 {
        guard index >= 2048 else { return UInt64(index) }
        let shift = (index - 2048) / 1024 + 1
        return UInt64((index - 2048) % 1024 + 1024) << shift
    }

    /// Buckets up to `maxMicros`.
    static let bucketCount = bucketIndex(normalized(maxMicros)) + 1

    /// Merges many ascending pair lists. Few lists, or few pairs spread over a wide range of
    /// buckets, merge pairwise; many pairs are counted into `scratch` (one slot per HDR bucket,
    /// all zero on entry and on return) and read back in order, so a bucket fed by hundreds of
    /// groups costs one pass over their pairs and one over the range they span.
    static func mergeAll(_ lists: [Pairs], scratch: inout [UInt64]) -> Pairs {
        switch lists.count {
        case 0: return []
        case 1: return lists[0]
        case 2: return merge(lists[0], lists[1])
        default: break
        }
        var total = 0
        var lowest = UInt64.max
        var highest: UInt64 = 0
        for list in lists {
            guard let first = list.first, let last = list.last else { continue }
            total += list.count
            lowest = min(lowest, first.value)
            highest = max(highest, last.value)
        }
        guard total > 0 else { return [] }
        let span = bucketIndex(normalized(min(highest, maxMicros))) - bucketIndex(normalized(min(lowest, maxMicros)))
        if total * 4 < span {
            // Sparse: all pairs in one array, sorted, equal values summed (one allocation, where a
            // tree of pairwise merges made one per merge).
            var all: Pairs = []
            all.reserveCapacity(total)
            for list in lists { all.append(contentsOf: list) }
            coalesce(&all)
            return all
        }
        if scratch.count < bucketCount { scratch = [UInt64](repeating: 0, count: bucketCount) }
        var low = Int.max
        var high = -1
        for list in lists {
            for pair in list {
                let i = min(bucketIndex(normalized(pair.value)), bucketCount - 1)
                scratch[i] &+= pair.count
                low = min(low, i)
                high = max(high, i)
            }
        }
        guard low <= high else { return [] }
        var result: Pairs = []
        for i in low...high where scratch[i] != 0 {
            result.append((bucketValue(i), scratch[i]))
            scratch[i] = 0
        }
        return result
    }

    /// Sorts pairs by value and sums the counts of equal values, in place.
    static func coalesce(_ all: inout Pairs) {
        guard all.count > 1 else { return }
        all.sort { $0.value < $1.value }
        var last = 0
        for i in 1..<all.count {
            if all[i].value == all[last].value {
                all[last].count &+= all[i].count
            } else {
                last += 1
                all[last] = all[i]
            }
        }
        all.removeLast(all.count - last - 1)
    }

    static func encode(_ pairs: Pairs) -> Data {
        // Written through a pointer (at most 10 bytes per varint): appending byte by byte made
        // encoding the largest cost of the bucket fold.
        let bytes = [UInt8](unsafeUninitializedCapacity: pairs.count * 20) { out, written in
            var n = 0
            func varint(_ v: UInt64) {
                var v = v
                while v >= 0x80 {
                    out[n] = UInt8(truncatingIfNeeded: v) | 0x80
                    n += 1
                    v >>= 7
                }
                out[n] = UInt8(v)
                n += 1
            }
            var previous: UInt64 = 0
            for pair in pairs {
                varint(pair.value &- previous)
                varint(pair.count)
                previous = pair.value
            }
            written = n
        }
        return Data(bytes)
    }

    /// Calls `body` with each (value, count) of a blob, in order; malformed bytes end the walk
    /// (a blob is only ever written by this type).
    static func forEachPair(_ bytes: Data, _ body: (UInt64, UInt64) -> Void) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            func varint() -> UInt64? {
                var result: UInt64 = 0
                var shift: UInt64 = 0
                while offset < raw.count, shift < 64 {
                    let byte = raw[offset]
                    offset += 1
                    result |= UInt64(byte & 0x7F) << shift
                    if byte & 0x80 == 0 { return result }
                    shift += 7
                }
                return nil
            }
            var value: UInt64 = 0
            while offset < raw.count {
                guard let delta = varint(), let count = varint() else { return }
                value &+= delta
                body(min(value, maxMicros), count)
            }
        }
    }

    /// The pairs of a blob, normalised and ascending.
    static func decode(_ bytes: Data) -> Pairs {
        var pairs: Pairs = []
        pairs.reserveCapacity(bytes.count / 2)
        var ascending = true
        append(bytes, to: &pairs, ascending: &ascending)
        // Only blobs written before normalisation can be out of order.
        if !ascending { coalesce(&pairs) }
        return pairs
    }

    /// Appends a blob's normalised pairs to `pairs`; clears `ascending` when one is not above
    /// the pair before it.
    static func append(_ bytes: Data, to pairs: inout Pairs, ascending: inout Bool) {
        forEachPair(bytes) { value, count in
            let v = normalized(value)
            if let last = pairs.last, last.value >= v { ascending = false }
            pairs.append((v, count))
        }
    }

    /// Adds a blob's counts to `counts` (one slot per HDR bucket, ``bucketCount`` slots), the
    /// hot loop of a week-long summary (millions of pairs: one array slot each). Returns the
    /// count added and the lowest and highest slot touched (`Int.max` and -1 when none was).
    static func add(_ bytes: Data, toCounts counts: inout [UInt64]) -> (added: UInt64, low: Int, high: Int) {
        guard counts.count == bucketCount else { return (0, Int.max, -1) }
        var added: UInt64 = 0
        var low = Int.max
        var high = -1
        counts.withUnsafeMutableBufferPointer { slots in
            forEachPair(bytes) { value, count in
                let slot = bucketIndex(value)
                slots[slot] &+= count
                added &+= count
                low = min(low, slot)
                high = max(high, slot)
            }
        }
        return (added, low, high)
    }

    /// The value at `p` percent of ascending (value, count) pairs holding `total` in all, as HDR
    /// reports it: the highest value of the bucket holding rank ⌈p·total⌉ (at least 1), with
    /// HDR's arithmetic (`p` one ulp down, times the total, over 100) so that both agree to the
    /// bit (the tests hold them to it).
    static func percentile<S: Sequence>(_ p: Double, total: UInt64, ascending pairs: S) -> UInt64
    where S.Element == (value: UInt64, count: UInt64) {
        guard total > 0 else { return 0 }
        let clamped = min(max(p.nextDown, 0), 100)
        let rank = max(1, UInt64((clamped * Double(total) / 100).rounded(.up)))
        var seen: UInt64 = 0
        var last: UInt64 = 0
        for pair in pairs {
            seen &+= pair.count
            last = pair.value
            if seen >= rank { break }
        }
        return highestEquivalent(last)
    }

    // MARK: SQL functions

    /// `fleet_histogram_merge(a, b)`: the union of two blobs (NULL counts as empty).
    static let mergeFunction = DatabaseFunction("fleet_histogram_merge", argumentCount: 2, pure: true) { values in
        let a = Data.fromDatabaseValue(values[0]) ?? Data()
        let b = Data.fromDatabaseValue(values[1]) ?? Data()
        if a.isEmpty { return b }
        if b.isEmpty { return a }
        return encode(merge(decode(a), decode(b)))
    }

    /// `fleet_histogram(ms)`: aggregate of durations in milliseconds (NULLs skipped) into a blob.
    static let aggregateFunction = DatabaseFunction("fleet_histogram", argumentCount: 1, pure: true, aggregate: MillisecondsAggregate.self)

    /// `fleet_histogram_union(blob)`: aggregate union of blobs.
    static let unionFunction = DatabaseFunction("fleet_histogram_union", argumentCount: 1, pure: true, aggregate: UnionAggregate.self)

    /// Registers the functions on a connection (the store does so on every one).
    static func register(in db: Database) {
        db.add(function: mergeFunction)
        db.add(function: aggregateFunction)
        db.add(function: unionFunction)
    }

    struct MillisecondsAggregate: DatabaseAggregate {
        var values: [UInt64] = []
        init() {}
        mutating func step(_ dbValues: [DatabaseValue]) throws {
            if let v = micros(Double.fromDatabaseValue(dbValues[0])) { values.append(v) }
        }
        func finalize() throws -> (any DatabaseValueConvertible)? { encode(pairs(ofMicros: values)) }
    }

    /// Gathers the blobs and merges them once at the end (merging each blob into a running
    /// total is quadratic for a bucket with hundreds of deltas): a single blob is returned as it
    /// is; several are decoded into one list, sorted and summed.
    struct UnionAggregate: DatabaseAggregate {
        var blobs: [Data] = []
        init() {}
        mutating func step(_ dbValues: [DatabaseValue]) throws {
            if let blob = Data.fromDatabaseValue(dbValues[0]), !blob.isEmpty { blobs.append(blob) }
        }
        func finalize() throws -> (any DatabaseValueConvertible)? {
            switch blobs.count {
            case 0: return Data()
            case 1: return blobs[0]
            default:
                var all: Pairs = []
                all.reserveCapacity(blobs.reduce(0) { $0 + $1.count / 2 })
                var ascending = true
                for blob in blobs { append(blob, to: &all, ascending: &ascending) }
                coalesce(&all)
                return encode(all)
            }
        }
    }
}
