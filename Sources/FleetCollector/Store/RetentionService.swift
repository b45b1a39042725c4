import FleetCore
import GRDB
import Histogram

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ServiceLifecycle

/// Keeps the store bounded: raw steps and finished executions older than
/// `store.raw_retention` are rolled up into hourly aggregates (counts,
/// successes and HDR histograms of durations per workflow, agent,
/// environment and action) and deleted, in chunks so ingest is never blocked
/// for long. Other raw events past retention are deleted. Runs every
/// `interval` until graceful shutdown.
public struct RetentionService: Service {
    let store: FleetStore
    let retention: Duration
    let interval: Duration
    let logger: Logger
    let clock: @Sendable () -> Timestamp

    public init(
        store: FleetStore, retention: Duration, interval: Duration = .seconds(600), logger: Logger,
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
                        "rolled up raw rows past retention",
                        metadata: ["steps": "\(report.steps)", "executions": "\(report.executions)", "other": "\(report.other)"])
                }
            } catch {
                logger.error("retention pass failed", metadata: ["error": "\(error)"])
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
    public func runOnce(chunk: Int = 20_000) async throws -> Report {
        let hour: Int64 = 3_600_000_000
        let cutoff = (clock().microsecondsSinceEpoch - retention.microseconds) / hour * hour
        var report = Report()
        while true {
            let n = try await store.pool.write { db in try Self.rollUpSteps(db, before: cutoff, limit: chunk) }
            report.steps += n
            if n < chunk { break }
        }
        while true {
            let n = try await store.pool.write { db in try Self.rollUpExecutions(db, before: cutoff, limit: chunk) }
            report.executions += n
            if n < chunk { break }
        }
        report.other = try await store.pool.write { db in
            var deleted = 0
            for table in ["recoveries", "resolutions", "errors", "resource_samples", "metric_points", "command_results"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE ts < ?", arguments: [cutoff])
                deleted += db.changesCount
            }
            return deleted
        }
        return report
    }

    struct StepGroup: Hashable {
        var hour: Int64
        var workflow: String
        var agent: String
        var env: String
        var action: String
    }

    struct StepAggregate {
        var steps = 0
        var successes = 0
        var cacheHits = 0
        var degraded = 0
        var totalSum = 0.0
        var total = RollupHistogram.empty()
        var ocr = RollupHistogram.empty()
        var ui = RollupHistogram.empty()
        var analyze = RollupHistogram.empty()

        /// Adds one `steps` row as selected in ``rollUpSteps``.
        mutating func add(_ row: Row) {
            steps += 1
            if row[6] as Bool { successes += 1 }
            let value: Double = row[7]
            totalSum += value
            if let v = RetentionService.micros(value) { _ = total.record(v) }
            if let v = RetentionService.micros(row[8]) { _ = ocr.record(v) }
            if let v = RetentionService.micros(row[9]) { _ = ui.record(v) }
            if let v = RetentionService.micros(row[10]) { _ = analyze.record(v) }
            if row[11] as Bool { cacheHits += 1 }
            if row[12] as Bool { degraded += 1 }
        }
    }

    static func micros(_ ms: Double?) -> UInt64? {
        guard let ms, ms.isFinite, ms >= 0 else { return nil }
        return UInt64(min(ms * 1000, EventLimits.maxDurationMs * 1000).rounded())
    }

    static func rollUpSteps(_ db: Database, before cutoff: Int64, limit: Int) throws -> Int {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT rowid, finished_at, workflow_id, agent_id, coalesce(env_hash, ''), action_type, success,
                       total_ms, ocr_ms, ui_ms, analyze_ms, cache_hit, degraded
                FROM steps WHERE finished_at < ? ORDER BY finished_at, rowid LIMIT ?
                """, arguments: [cutoff, limit])
        guard !rows.isEmpty else { return 0 }
        var groups: [StepGroup: StepAggregate] = [:]
        var maxRowid: Int64 = 0
        var lastFinished: Int64 = 0
        for row in rows {
            maxRowid = max(maxRowid, row[0])
            lastFinished = row[1]
            let key = StepGroup(hour: (row[1] as Int64) / 3_600_000_000 * 3_600_000_000, workflow: row[2], agent: row[3], env: row[4], action: row[5])
            // In place (default subscript): no copy of the histograms per row.
            groups[key, default: StepAggregate()].add(row)
        }
        for (key, a) in groups {
            var merged = a
            if let existing = try Row.fetchOne(
                db,
                sql: """
                    SELECT steps, successes, cache_hits, degraded, total_sum_ms, total_histogram, ocr_histogram, ui_histogram, analyze_histogram
                    FROM step_rollups WHERE hour = ? AND workflow_id = ? AND agent_id = ? AND env_hash = ? AND action_type = ?
                    """, arguments: [key.hour, key.workflow, key.agent, key.env, key.action])
            {
                merged.steps += existing[0]
                merged.successes += existing[1]
                merged.cacheHits += existing[2]
                merged.degraded += existing[3]
                merged.totalSum += existing[4]
                RollupHistogram.add(existing[5] as Data, to: &merged.total)
                RollupHistogram.add(existing[6] as Data, to: &merged.ocr)
                RollupHistogram.add(existing[7] as Data, to: &merged.ui)
                RollupHistogram.add(existing[8] as Data, to: &merged.analyze)
            }
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO step_rollups (hour, workflow_id, agent_id, env_hash, action_type, steps, successes,
                        cache_hits, degraded, total_sum_ms, total_histogram, ocr_histogram, ui_histogram, analyze_histogram)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    key.hour, key.workflow, key.agent, key.env, key.action, merged.steps, merged.successes, merged.cacheHits,
                    merged.degraded, merged.totalSum, RollupHistogram.encode(merged.total), RollupHistogram.encode(merged.ocr),
                    RollupHistogram.encode(merged.ui), RollupHistogram.encode(merged.analyze),
                ])
        }
        // Exactly the rows aggregated: everything before the last finished_at, plus that instant up to the last rowid read.
        try db.execute(
            sql: "DELETE FROM steps WHERE finished_at < ? OR (finished_at = ? AND rowid <= ?)",
            arguments: [lastFinished, lastFinished, maxRowid])
        return rows.count
    }

    struct RunGroup: Hashable {
        var hour: Int64
        var workflow: String
        var agent: String
        var env: String
    }

    static func rollUpExecutions(_ db: Database, before cutoff: Int64, limit: Int) throws -> Int {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT agent_id, execution_id, finished_at, workflow_id, coalesce(env_hash, ''), status,
                       coalesce(duration_ms, (finished_at - started_at) / 1000.0)
                FROM executions WHERE status IS NOT NULL AND finished_at < ? LIMIT ?
                """, arguments: [cutoff, limit])
        guard !rows.isEmpty else { return 0 }
        var groups: [RunGroup: (runs: Int, successes: Int, sum: Double, histogram: Histogram<UInt64>)] = [:]
        for row in rows {
            let key = RunGroup(hour: (row[2] as Int64) / 3_600_000_000 * 3_600_000_000, workflow: row[3], agent: row[0], env: row[4])
            groups[key, default: (0, 0, 0, RollupHistogram.empty())].runs += 1
            if (row[5] as String) == ExecutionStatus.success.rawValue { groups[key]?.successes += 1 }
            if let d: Double = row[6], let v = micros(d) {
                groups[key]?.sum += d
                _ = groups[key]?.histogram.record(v)
            }
        }
        for (key, g) in groups {
            var merged = g
            if let existing = try Row.fetchOne(
                db,
                sql: """
                    SELECT runs, successes, duration_sum_ms, duration_histogram FROM execution_rollups
                    WHERE hour = ? AND workflow_id = ? AND agent_id = ? AND env_hash = ?
                    """, arguments: [key.hour, key.workflow, key.agent, key.env])
            {
                merged.runs += existing[0]
                merged.successes += existing[1]
                merged.sum += existing[2]
                RollupHistogram.add(existing[3] as Data, to: &merged.histogram)
            }
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO execution_rollups (hour, workflow_id, agent_id, env_hash, runs, successes,
                        duration_sum_ms, duration_histogram) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    key.hour, key.workflow, key.agent, key.env, merged.runs, merged.successes, merged.sum,
                    RollupHistogram.encode(merged.histogram),
                ])
        }
        let delete = try db.cachedStatement(sql: "DELETE FROM executions WHERE agent_id = ? AND execution_id = ?")
        for row in rows {
            try delete.execute(arguments: [row[0] as String, row[1] as String])
        }
        return rows.count
    }
}
