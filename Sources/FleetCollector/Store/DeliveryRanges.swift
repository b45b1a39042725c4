import FleetCore
import GRDB

/// The idempotence record in the store: for each (agent, epoch), the
/// sequence ranges already committed. A batch covers `[first_seq, last_seq]`
/// — records the agent dropped inside that run are gone for good — so after
/// a commit the whole run is covered, and anything inside a covered range is
/// a duplicate.
enum DeliveryRanges {
    static func load(_ db: Database, agentID: String, epoch: WALEpoch) throws -> SequenceRanges {
        let rows = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT lo, hi FROM delivery_ranges WHERE agent_id = ? AND epoch = ? ORDER BY lo"),
            arguments: [agentID, Int64(bitPattern: epoch.rawValue)])
        return SequenceRanges(
            rows.compactMap { row -> ClosedRange<UInt64>? in
                let lo = UInt64(bitPattern: row[0] as Int64)
                let hi = UInt64(bitPattern: row[1] as Int64)
                return lo <= hi ? lo...hi : nil
            })
    }

    /// Rewrites the stored ranges of one agent and epoch.
    static func save(_ ranges: SequenceRanges, _ db: Database, agentID: String, epoch: WALEpoch) throws {
        let e = Int64(bitPattern: epoch.rawValue)
        try db.cachedStatement(sql: "DELETE FROM delivery_ranges WHERE agent_id = ? AND epoch = ?").execute(arguments: [agentID, e])
        let insert = try db.cachedStatement(sql: "INSERT INTO delivery_ranges (agent_id, epoch, lo, hi) VALUES (?, ?, ?, ?)")
        for r in ranges.ranges {
            try insert.execute(arguments: [agentID, e, Int64(bitPattern: r.lowerBound), Int64(bitPattern: r.upperBound)])
        }
    }
}
