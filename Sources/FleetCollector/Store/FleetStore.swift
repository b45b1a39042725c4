import FleetCore
import GRDB
import Synchronization

/// The collector's SQLite database (GRDB `DatabasePool`, WAL mode). One
/// writer merges batches; any number of readers compute summaries.
///
/// Durability: with `store.synchronous = "full"` (the default) every commit
/// is fsynced before `merge` returns, so an acknowledged batch survives a
/// power cut; with `"normal"` it survives a crash of the collector process
/// but the last commits may be lost if the machine loses power.
public final class FleetStore: Sendable {
    let pool: DatabasePool
    public let path: String
    /// Summary bucket delta rows written by merges since the last fold (an estimate: folds
    /// by other connections are not seen).
    let pendingDeltaRows = Mutex(0)

    /// Delta rows waiting to be folded, as far as this store object has seen.
    public var deltaRowsPending: Int { pendingDeltaRows.withLock { $0 } }

    /// The writer connection's page cache.
    static let writerCacheKiB = 64 * 1024
    /// WAL pages (4 KiB) after which a commit checkpoints.
    static let checkpointPages = 8192

    public init(path: String, synchronousFull: Bool = true) throws {
        var configuration = Configuration()
        configuration.label = "fleet-store"
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: synchronousFull ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
            if !db.configuration.readonly {
                // The writer: a page cache that holds the hot index and bucket pages (SQLite's
                // default of 2 MB made every merge re-read them from the OS), and checkpoints
                // every 32 MiB of WAL rather than every 4 MiB, so pages changed by consecutive
                // commits reach the database file once.
                try db.execute(sql: "PRAGMA cache_size = -\(Self.writerCacheKiB); PRAGMA wal_autocheckpoint = \(Self.checkpointPages)")
            }
            HistogramBlob.register(in: db)
        }
        self.path = path
        pool = try DatabasePool(path: path, configuration: configuration)
        try StoreSchema.migrator.migrate(pool)
    }

    /// Recomputes the summary buckets from the raw rows, for a store whose rows
    /// were written by other means than the merge (a bulk import, the
    /// benchmarks' generated store). Hours whose raw rows retention already
    /// deleted lose their buckets: do not run it on a store past retention.
    public func rebuildSummaryBuckets() async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    DELETE FROM run_buckets; DELETE FROM step_buckets; DELETE FROM step_history;
                    DELETE FROM run_bucket_deltas; DELETE FROM step_bucket_deltas;
                    """)
            try SummaryBuckets.backfillFromRaw(db)
            try SummaryBuckets.markAllDays(db)
        }
    }

    /// Folds the summary bucket deltas the merges appended into the buckets
    /// (the ingest writer does so every few seconds). Returns the delta rows folded.
    @discardableResult
    public func foldBucketDeltas() async throws -> Int {
        let folded = try await pool.write { db in try SummaryBuckets.foldDeltas(db) }
        pendingDeltaRows.withLock { $0 = 0 }
        return folded
    }

    /// Builds the day buckets of every day that is over and whose buckets are
    /// missing or stale, from its hourly buckets: one short transaction per
    /// day and dimension, so ingest waits at most for one. A day the merge
    /// touches meanwhile stays unbuilt (summaries read its hours) and is
    /// rebuilt on the next pass. Returns the days built.
    @discardableResult
    public func compactDays(now: Timestamp) async throws -> Int {
        try await foldBucketDeltas()
        let due = try await pool.read { db in try SummaryBuckets.daysToCompact(db, now: now.microsecondsSinceEpoch) }
        var built = 0
        for (day, version) in due {
            for dimension in SummaryBuckets.RunDimension.allCases {
                try await pool.write { db in try SummaryBuckets.compactRunDay(db, dimension: dimension, day: day) }
            }
            for dimension in SummaryBuckets.StepDimension.allCases {
                try await pool.write { db in try SummaryBuckets.compactStepDay(db, dimension: dimension, day: day) }
            }
            if try await pool.write({ db in try SummaryBuckets.markBuilt(db, day: day, version: version) }) { built += 1 }
        }
        return built
    }

    /// Reads in a snapshot.
    func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }

    /// The sequence ranges committed for one agent and epoch, ascending.
    public func committedRanges(agentID: String, epoch: WALEpoch) async throws -> [ClosedRange<UInt64>] {
        try await pool.read { db in
            try DeliveryRanges.load(db, agentID: agentID, epoch: epoch).ranges
        }
    }
}
