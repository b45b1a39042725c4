/// A set of sequence numbers kept as sorted, disjoint, non-adjacent closed
/// ranges: what the collector has committed per agent and epoch, and what an
/// agent's WAL knows to be acknowledged.
public struct SequenceRanges: Sendable, Hashable {
    public private(set) var ranges: [ClosedRange<UInt64>]

    public init(_ ranges: [ClosedRange<UInt64>] = []) {
        self.ranges = []
        for r in ranges { insert(r) }
    }

    public var isEmpty: Bool { ranges.isEmpty }
    public var highest: UInt64? { ranges.last?.upperBound }

    /// Whether `sequence` is in the set (binary search).
    public func contains(_ sequence: UInt64) -> Bool {
        index(containing: sequence) != nil
    }

    func index(containing sequence: UInt64) -> Int? {
        var low = 0
        var high = ranges.count - 1
        while low <= high {
            let mid = (low + high) / 2
            let r = ranges[mid]
            if sequence < r.lowerBound {
                high = mid - 1
            } else if sequence > r.upperBound {
                low = mid + 1
            } else {
                return mid
            }
        }
        return nil
    }

    /// Whether every sequence of `range` is in the set.
    public func covers(_ range: ClosedRange<UInt64>) -> Bool {
        guard let i = index(containing: range.lowerBound) else { return false }
        return ranges[i].upperBound >= range.upperBound
    }

    /// How many sequences of `range` are in the set.
    public func count(in range: ClosedRange<UInt64>) -> UInt64 {
        var n: UInt64 = 0
        for r in ranges where r.upperBound >= range.lowerBound && r.lowerBound <= range.upperBound {
            n += min(r.upperBound, range.upperBound) - max(r.lowerBound, range.lowerBound) + 1
        }
        return n
    }

    /// Adds a range, merging it with overlapping or adjacent ones.
    public mutating func insert(_ new: ClosedRange<UInt64>) {
        var lo = new.lowerBound
        var hi = new.upperBound
        var kept: [ClosedRange<UInt64>] = []
        kept.reserveCapacity(ranges.count + 1)
        var placed = false
        for r in ranges {
            // Overlapping or adjacent (saturating, so UInt64.max cannot overflow).
            if r.lowerBound <= Self.successor(hi) && Self.successor(r.upperBound) >= lo {
                lo = min(lo, r.lowerBound)
                hi = max(hi, r.upperBound)
            } else if r.lowerBound > hi {
                if !placed {
                    kept.append(lo...hi)
                    placed = true
                }
                kept.append(r)
            } else {
                kept.append(r)
            }
        }
        if !placed { kept.append(lo...hi) }
        ranges = kept
    }

    /// Forgets every sequence below `sequence`.
    public mutating func removeBelow(_ sequence: UInt64) {
        ranges = ranges.compactMap { r in
            if r.upperBound < sequence { return nil }
            return max(r.lowerBound, sequence)...r.upperBound
        }
    }

    static func successor(_ v: UInt64) -> UInt64 { v == .max ? .max : v + 1 }
}
