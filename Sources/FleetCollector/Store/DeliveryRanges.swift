import FleetCore
import GRDB

/// The idempotence record: for each (agent, epoch), the sequence ranges
/// already committed. A batch covers `[first_seq, last_seq]` — records the
/// agent dropped inside that run are gone for good — so after a commit the
/// whole run is covered, and anything inside a covered range is a duplicate.
struct DeliveryRanges {
    var ranges: [ClosedRange<UInt64>]

    static func load(_ db: Database, agentID: String, epoch: WALEpoch) throws -> [ClosedRange<UInt64>] {
        let rows = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT lo, hi FROM delivery_ranges WHERE agent_id = ? AND epoch = ? ORDER BY lo"),
            arguments: [agentID, Int64(bitPattern: epoch.rawValue)])
        return rows.compactMap { row -> ClosedRange<UInt64>? in
            let lo = UInt64(bitPattern: row[0] as Int64)
            let hi = UInt64(bitPattern: row[1] as Int64)
            return lo <= hi ? lo...hi : nil
        }
    }

    /// Whether `sequence` lies in a committed range (binary search).
    func contains(_ sequence: UInt64) -> Bool {
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
                return true
            }
        }
        return false
    }

    /// Adds a range, merging it with overlapping or adjacent ones.
    mutating func insert(_ new: ClosedRange<UInt64>) {
        var lo = new.lowerBound
        var hi = new.upperBound
        var kept: [ClosedRange<UInt64>] = []
        kept.reserveCapacity(ranges.count + 1)
        for r in ranges {
            // Overlapping or adjacent (saturating, so UInt64.max cannot overflow).
            let touches = r.lowerBound <= hi.saturatingSuccessor && r.upperBound.saturatingSuccessor >= lo
            if touches {
                lo = min(lo, r.lowerBound)
                hi = max(hi, r.upperBound)
            } else {
                kept.append(r)
            }
        }
        kept.append(lo...hi)
        kept.sort { $0.lowerBound < $1.lowerBound }
        ranges = kept
    }

    var highest: UInt64? { ranges.last?.upperBound }

    /// Rewrites the stored ranges of one agent and epoch.
    func save(_ db: Database, agentID: String, epoch: WALEpoch) throws {
        let e = Int64(bitPattern: epoch.rawValue)
        try db.cachedStatement(sql: "DELETE FROM delivery_ranges WHERE agent_id = ? AND epoch = ?").execute(arguments: [agentID, e])
        let insert = try db.cachedStatement(sql: "INSERT INTO delivery_ranges (agent_id, epoch, lo, hi) VALUES (?, ?, ?, ?)")
        for r in ranges {
            try insert.execute(arguments: [agentID, e, Int64(bitPattern: r.lowerBound), Int64(bitPattern: r.upperBound)])
        }
    }
}

extension UInt64 {
    var saturatingSuccessor: UInt64 { self == .max ? .max : self + 1 }
}
