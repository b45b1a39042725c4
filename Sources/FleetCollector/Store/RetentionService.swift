import FleetCore
import GRDB

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ServiceLifecycle

/// Keeps the store bounded and its summaries fast: raw rows older than
/// `store.raw_retention` are deleted, in chunks so ingest is never blocked
/// for long (their counts, successes and duration histograms live on in the
/// hourly summary buckets the merge keeps), and the day buckets of days that
/// are over are built from their hours (``FleetStore/compactDays(now:)``).
/// Runs every `interval` until graceful shutdown.
public struct RetentionService: Service {
    let store: FleetStore
    let retention: Duration
    let interval: Duration
    let logger: Logger
    let clock: @Sendable () -> Timestamp

    public init(
        store: FleetStore, retention: Duration, interval: Duration = .seconds(60), logger: Logger,
        clock: @escaping @Sendable () -> Timestamp = { .now() }
    ) {
        self.store = store
        self.retention = retention
        self.interval = interval
        self.logger = logger
        self.clock = clock
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let report = try await runOnce()
                if report.steps + report.executions > 0 {
                    logger.info(
                        "deleted raw rows past retention",
                        metadata: ["steps": "\(report.steps)", "executions": "\(report.executions)", "other": "\(report.other)"])
                }
            } catch {
                logger.error("retention pass failed", metadata: ["error": "\(error)"])
            }
            do {
                let days = try await store.compactDays(now: clock())
                if days > 0 { logger.info("built day summary buckets", metadata: ["days": "\(days)"]) }
            } catch {
                logger.error("building day summary buckets failed", metadata: ["error": "\(error)"])
            }
            try? await gracefulShutdownSafeSleep(interval)
        }
    }

    /// Sleeps, returning early on graceful shutdown.
    func gracefulShutdownSafeSleep(_ duration: Duration) async throws {
        try await cancelWhenGracefulShutdown {
            try await Task.sleep(for: duration)
        }
    }

    public struct Report: Sendable, Equatable {
        public init() {}
        public var steps = 0
        public var executions = 0
        public var other = 0
    }

    /// One pass: everything older than the cutoff (rounded down to the hour).
    /// The summary buckets already hold these rows' aggregates (the merge
    /// keeps them), so raw rows are deleted, in chunks, and only the hourly
    /// buckets remain for those hours.
    public func runOnce(chunk: Int = 20_000) async throws -> Report {
        let hour = SummaryBuckets.hour
        let cutoff = (clock().microsecondsSinceEpoch - retention.microseconds) / hour * hour
        var report = Report()
        // Deltas of hours about to lose their raw rows and five-minute buckets go to the hourly buckets first.
        try await store.foldBucketDeltas()
        while true {
            let n = try await store.pool.write { db in
                try db.execute(
                    sql: "DELETE FROM steps WHERE rowid IN (SELECT rowid FROM steps WHERE finished_at < ? LIMIT ?)",
                    arguments: [cutoff, chunk])
                return db.changesCount
            }
            report.steps += n
            if n < chunk { break }
        }
        while true {
            let n = try await store.pool.write { db in
                try db.execute(
                    sql: """
                        DELETE FROM executions WHERE rowid IN
                            (SELECT rowid FROM executions WHERE status IS NOT NULL AND finished_at < ? LIMIT ?)
                        """, arguments: [cutoff, chunk])
                return db.changesCount
            }
            report.executions += n
            if n < chunk { break }
        }
        report.other = try await store.pool.write { db in
            var deleted = 0
            for table in ["recoveries", "resolutions", "errors", "resource_samples", "metric_points", "command_results"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE ts < ?", arguments: [cutoff])
                deleted += db.changesCount
            }
            deleted += try SummaryBuckets.deleteFineBuckets(db, before: cutoff)
            return deleted
        }
        return report
    }
}
