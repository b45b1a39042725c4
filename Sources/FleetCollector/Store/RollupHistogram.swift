import FleetCore
import Histogram

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Compact storage of an HDR histogram: the recorded (value, count) pairs as
/// varints, values delta-encoded. A rollup row holds a few hundred bytes
/// instead of the histogram's full count array.
enum RollupHistogram {
    static func empty() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: UInt64(EventLimits.maxDurationMs * 1000), numberOfSignificantValueDigits: .three)
    }

    static func encode(_ histogram: Histogram<UInt64>) -> Data {
        var w = ByteWriter(capacity: 64)
        var previous: UInt64 = 0
        for item in histogram.recordedValues() {
            w.varint(item.value - previous)
            w.varint(item.count)
            previous = item.value
        }
        return Data(w.bytes)
    }

    /// Adds the encoded histogram to `histogram`; malformed bytes add nothing further.
    static func add(_ bytes: Data, to histogram: inout Histogram<UInt64>) {
        bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            var value: UInt64 = 0
            while !r.isAtEnd {
                guard let delta = try? r.varint("value"), let count = try? r.varint("count") else { return }
                value &+= delta
                _ = histogram.record(value, count: count)
            }
        }
    }
}
