import FleetCore
import GRDB

/// Pre-aggregated summaries, kept up to date by the merge in the same
/// transaction as the raw rows: finished executions and steps counted per
/// time bucket and dimension, with sparse HDR histograms of their durations
/// (``HistogramBlob``). Summaries read whole buckets from here and only the
/// ragged edges of a window from the raw rows, so a 7-day summary over
/// millions of steps costs a few thousand bucket rows.
///
/// The merge writes buckets of two spans: an hour (kept for good: they are
/// the long-term history once raw rows pass retention) and five minutes
/// (kept as long as the raw rows, for the edges of short windows; not for
/// groups of one agent, see ``agentSpans``). Day
/// buckets (UTC days, kept for good) are built from the hourly ones once a
/// day is over (``compactDays(_:now:)``, by the retention service), so that
/// week-long windows read 7 rows per group instead of 168. The merge marks
/// every day it touches in `bucket_days` (bumping its `version`); a day's
/// buckets are read only while `built_version = version`, so a late batch
/// for a compacted day makes summaries read that day's hours again until it
/// is rebuilt. A bucket's `start` is in microseconds since the epoch, a
/// multiple of its span; executions and steps are bucketed by `finished_at`.
///
/// The merge does not rewrite bucket rows: each transaction appends its
/// share to `run_bucket_deltas` / `step_bucket_deltas` (small rows, no
/// read-modify-write of the hour's growing histograms), and the ingest
/// writer folds the deltas into `run_buckets` / `step_buckets` every few
/// seconds (``foldDeltas(_:)``). Summaries read both tables, so a fold never
/// changes a number.
enum SummaryBuckets {
    static let day: Int64 = 86_400_000_000
    static let hour: Int64 = 3_600_000_000
    static let fiveMinutes: Int64 = 300_000_000
    /// The spans the merge writes for the whole fleet, a workflow or an environment. Groups
    /// of one agent get hours only: an agent's own steps in a window's edges are few (read
    /// through the `steps_by_agent` index), the executions of every agent in an hour are
    /// few too, and the agents' five-minute buckets were half of every merge's bucket writes.
    static let spans = [fiveMinutes, hour]
    /// The spans of groups of one agent.
    static let agentSpans = [hour]

    /// What finished executions are grouped by. `key`/`key2` hold the group's
    /// values ('' for the whole fleet or an unknown environment).
    enum RunDimension: String, CaseIterable {
        case fleet
        case workflow
        case environment
        case agent
        /// key: workflow, key2: environment.
        case workflowEnvironment = "workflow_environment"
        /// key: workflow, key2: agent.
        case workflowAgent = "workflow_agent"

        /// The keys of an execution, as SQL over the `executions` table (backfill) …
        var keySQL: (String, String) {
            switch self {
            case .fleet: ("''", "''")
            case .workflow: ("workflow_id", "''")
            case .environment: ("coalesce(env_hash, '')", "''")
            case .agent: ("agent_id", "''")
            case .workflowEnvironment: ("workflow_id", "coalesce(env_hash, '')")
            case .workflowAgent: ("workflow_id", "agent_id")
            }
        }

        /// … and from its values (merge).
        func keys(workflow: String, agent: String, environment: String?) -> (String, String) {
            switch self {
            case .fleet: ("", "")
            case .workflow: (workflow, "")
            case .environment: (environment ?? "", "")
            case .agent: (agent, "")
            case .workflowEnvironment: (workflow, environment ?? "")
            case .workflowAgent: (workflow, agent)
            }
        }

        /// The spans the merge writes for this dimension.
        var spans: [Int64] {
            switch self {
            case .agent, .workflowAgent: SummaryBuckets.agentSpans
            case .fleet, .workflow, .environment, .workflowEnvironment: SummaryBuckets.spans
            }
        }
    }

    /// What steps are grouped by, always per action type as well.
    enum StepDimension: String, CaseIterable {
        case fleet, workflow, agent

        var keySQL: String {
            switch self {
            case .fleet: "''"
            case .workflow: "workflow_id"
            case .agent: "agent_id"
            }
        }

        /// The spans the merge writes for this dimension.
        var spans: [Int64] {
            switch self {
            case .agent: SummaryBuckets.agentSpans
            case .fleet, .workflow: SummaryBuckets.spans
            }
        }
    }

    /// The columns of a run bucket and of its deltas. Part of migrations v3 and v6: change
    /// them only with a new migration.
    static let runColumns = """
        dim TEXT NOT NULL, span INTEGER NOT NULL, start INTEGER NOT NULL, key TEXT NOT NULL, key2 TEXT NOT NULL,
        runs INTEGER NOT NULL, successes INTEGER NOT NULL, duration_sum_ms REAL NOT NULL,
        duration_histogram BLOB NOT NULL
        """

    /// The columns of a step bucket and of its deltas (migrations v3 and v6, as above).
    static let stepColumns = """
        dim TEXT NOT NULL, span INTEGER NOT NULL, start INTEGER NOT NULL, key TEXT NOT NULL,
        action_type TEXT NOT NULL, steps INTEGER NOT NULL, successes INTEGER NOT NULL, cache_hits INTEGER NOT NULL,
        degraded INTEGER NOT NULL, total_sum_ms REAL NOT NULL, total_histogram BLOB NOT NULL,
        ocr_histogram BLOB NOT NULL, ui_histogram BLOB NOT NULL, analyze_histogram BLOB NOT NULL
        """

    static func createTables(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE run_buckets (
                    \(runColumns),
                    PRIMARY KEY (dim, span, start, key, key2)
                ) WITHOUT ROWID;
                CREATE INDEX run_buckets_by_key ON run_buckets (dim, key, span, start);

                CREATE TABLE step_buckets (
                    \(stepColumns),
                    PRIMARY KEY (dim, span, start, key, action_type)
                ) WITHOUT ROWID;
                CREATE INDEX step_buckets_by_key ON step_buckets (dim, key, span, start);

                -- Mean step durations per workflow and step number, for ETAs of running executions.
                CREATE TABLE step_history (
                    workflow_id TEXT NOT NULL,
                    step_number INTEGER NOT NULL,
                    steps INTEGER NOT NULL,
                    total_sum_ms REAL NOT NULL,
                    PRIMARY KEY (workflow_id, step_number)
                ) WITHOUT ROWID;
                """)
    }

    static let runDeltaInsert = """
        INSERT INTO run_bucket_deltas (dim, span, start, key, key2, runs, successes, duration_sum_ms, duration_histogram)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    static let runOnConflict = """
        ON CONFLICT (dim, span, start, key, key2) DO UPDATE SET
            runs = runs + excluded.runs, successes = successes + excluded.successes,
            duration_sum_ms = duration_sum_ms + excluded.duration_sum_ms,
            duration_histogram = fleet_histogram_merge(duration_histogram, excluded.duration_histogram)
        """

    static let stepDeltaInsert = """
        INSERT INTO step_bucket_deltas (dim, span, start, key, action_type, steps, successes, cache_hits, degraded,
                                        total_sum_ms, total_histogram, ocr_histogram, ui_histogram, analyze_histogram)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    static let stepOnConflict = """
        ON CONFLICT (dim, span, start, key, action_type) DO UPDATE SET
            steps = steps + excluded.steps, successes = successes + excluded.successes,
            cache_hits = cache_hits + excluded.cache_hits, degraded = degraded + excluded.degraded,
            total_sum_ms = total_sum_ms + excluded.total_sum_ms,
            total_histogram = fleet_histogram_merge(total_histogram, excluded.total_histogram),
            ocr_histogram = fleet_histogram_merge(ocr_histogram, excluded.ocr_histogram),
            ui_histogram = fleet_histogram_merge(ui_histogram, excluded.ui_histogram),
            analyze_histogram = fleet_histogram_merge(analyze_histogram, excluded.analyze_histogram)
        """

    static func createDayTable(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE bucket_days (
                    start INTEGER PRIMARY KEY,
                    version INTEGER NOT NULL,
                    built_version INTEGER
                )
                """)
        try markAllDays(db)
    }

    /// Marks every day with hourly buckets as changed, so its day buckets are (re)built.
    static func markAllDays(_ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO bucket_days (start, version)
                SELECT DISTINCT \(floorSQL("start", day)), 1 FROM run_buckets WHERE span = \(hour)
                UNION SELECT DISTINCT \(floorSQL("start", day)), 1 FROM step_buckets WHERE span = \(hour)
                ON CONFLICT (start) DO UPDATE SET version = version + 1
                """)
    }

    static func createDeltaTables(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE run_bucket_deltas (
                    \(runColumns)
                );
                CREATE INDEX run_bucket_deltas_by_bucket ON run_bucket_deltas (dim, span, start, key, key2);

                CREATE TABLE step_bucket_deltas (
                    \(stepColumns)
                );
                CREATE INDEX step_bucket_deltas_by_bucket ON step_bucket_deltas (dim, span, start, key, action_type);
                """)
    }

    /// Folds every delta row into its bucket (one upsert per bucket) and empties the delta
    /// tables. Returns the delta rows folded.
    @discardableResult
    static func foldDeltas(_ db: Database) throws -> Int {
        try db.execute(
            sql: """
                INSERT INTO run_buckets (dim, span, start, key, key2, runs, successes, duration_sum_ms, duration_histogram)
                SELECT dim, span, start, key, key2, sum(runs), sum(successes), sum(duration_sum_ms),
                       fleet_histogram_union(duration_histogram)
                FROM run_bucket_deltas WHERE true GROUP BY dim, span, start, key, key2
                \(runOnConflict)
                """)
        try db.execute(sql: "DELETE FROM run_bucket_deltas")
        var folded = db.changesCount
        try db.execute(
            sql: """
                INSERT INTO step_buckets (dim, span, start, key, action_type, steps, successes, cache_hits, degraded,
                                          total_sum_ms, total_histogram, ocr_histogram, ui_histogram, analyze_histogram)
                SELECT dim, span, start, key, action_type, sum(steps), sum(successes), sum(cache_hits), sum(degraded),
                       sum(total_sum_ms), fleet_histogram_union(total_histogram), fleet_histogram_union(ocr_histogram),
                       fleet_histogram_union(ui_histogram), fleet_histogram_union(analyze_histogram)
                FROM step_bucket_deltas WHERE true GROUP BY dim, span, start, key, action_type
                \(stepOnConflict)
                """)
        try db.execute(sql: "DELETE FROM step_bucket_deltas")
        folded += db.changesCount
        return folded
    }

    /// `expression` rounded down to a multiple of `span`, negative values included.
    static func floorSQL(_ expression: String, _ span: Int64) -> String {
        "(\(expression) - ((\(expression) % \(span)) + \(span)) % \(span))"
    }

    /// Days whose buckets were built from their hours and have not changed since.
    static func builtDays(_ db: Database, from: Int64, to: Int64) throws -> Set<Int64> {
        try Set(
            Int64.fetchAll(
                db, sql: "SELECT start FROM bucket_days WHERE built_version = version AND start >= ? AND start < ?",
                arguments: [BucketAccumulator.floor(from, day), to]))
    }

    /// Days that are over and whose day buckets are missing or stale, oldest first.
    static func daysToCompact(_ db: Database, now: Int64) throws -> [(start: Int64, version: Int64)] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT start, version FROM bucket_days
                WHERE (built_version IS NULL OR built_version <> version) AND start <= ? ORDER BY start
                """, arguments: [now - day]
        ).map { (start: $0[0], version: $0[1]) }
    }

    /// Rebuilds one dimension's run buckets of one day from its hours.
    static func compactRunDay(_ db: Database, dimension: RunDimension, day start: Int64) throws {
        try db.execute(
            sql: "DELETE FROM run_buckets WHERE dim = ? AND span = ? AND start = ?",
            arguments: [dimension.rawValue, day, start])
        try db.execute(
            sql: """
                INSERT INTO run_buckets (dim, span, start, key, key2, runs, successes, duration_sum_ms, duration_histogram)
                SELECT dim, \(day), \(start), key, key2, sum(runs), sum(successes), sum(duration_sum_ms),
                       fleet_histogram_union(duration_histogram)
                FROM run_buckets WHERE dim = ? AND span = ? AND start >= ? AND start < ? GROUP BY key, key2
                """, arguments: [dimension.rawValue, hour, start, start + day])
    }

    /// Rebuilds one dimension's step buckets of one day from its hours.
    static func compactStepDay(_ db: Database, dimension: StepDimension, day start: Int64) throws {
        try db.execute(
            sql: "DELETE FROM step_buckets WHERE dim = ? AND span = ? AND start = ?",
            arguments: [dimension.rawValue, day, start])
        try db.execute(
            sql: """
                INSERT INTO step_buckets (dim, span, start, key, action_type, steps, successes, cache_hits, degraded,
                                          total_sum_ms, total_histogram, ocr_histogram, ui_histogram, analyze_histogram)
                SELECT dim, \(day), \(start), key, action_type, sum(steps), sum(successes), sum(cache_hits), sum(degraded),
                       sum(total_sum_ms), fleet_histogram_union(total_histogram), fleet_histogram_union(ocr_histogram),
                       fleet_histogram_union(ui_histogram), fleet_histogram_union(analyze_histogram)
                FROM step_buckets WHERE dim = ? AND span = ? AND start >= ? AND start < ? GROUP BY key, action_type
                """, arguments: [dimension.rawValue, hour, start, start + day])
    }

    /// Marks a day's buckets current as of `version`, unless the merge changed the day since.
    static func markBuilt(_ db: Database, day start: Int64, version: Int64) throws -> Bool {
        try db.execute(
            sql: "UPDATE bucket_days SET built_version = version WHERE start = ? AND version = ?", arguments: [start, version])
        return db.changesCount > 0
    }

    /// Fills empty bucket tables from the raw rows.
    static func backfillFromRaw(_ db: Database) throws {
        let duration = "coalesce(duration_ms, (finished_at - started_at) / 1000.0)"
        for span in spans {
            for dim in RunDimension.allCases where dim.spans.contains(span) {
                let (key, key2) = dim.keySQL
                try db.execute(
                    sql: """
                        INSERT INTO run_buckets (dim, span, start, key, key2, runs, successes, duration_sum_ms, duration_histogram)
                        SELECT '\(dim.rawValue)', \(span), finished_at / \(span) * \(span) AS b, \(key) AS k, \(key2) AS k2,
                               count(*), sum(status = 'success'), coalesce(sum(\(duration)), 0), fleet_histogram(\(duration))
                        FROM executions WHERE status IS NOT NULL AND finished_at IS NOT NULL GROUP BY b, k, k2
                        """)
            }
            for dim in StepDimension.allCases where dim.spans.contains(span) {
                try db.execute(
                    sql: """
                        INSERT INTO step_buckets (dim, span, start, key, action_type, steps, successes, cache_hits, degraded,
                                                  total_sum_ms, total_histogram, ocr_histogram, ui_histogram, analyze_histogram)
                        SELECT '\(dim.rawValue)', \(span), finished_at / \(span) * \(span) AS b, \(dim.keySQL) AS k, action_type,
                               count(*), sum(success), sum(cache_hit), sum(degraded), sum(total_ms), fleet_histogram(total_ms),
                               fleet_histogram(ocr_ms), fleet_histogram(ui_ms), fleet_histogram(analyze_ms)
                        FROM steps GROUP BY b, k, action_type
                        """)
            }
        }
        try db.execute(
            sql: """
                INSERT INTO step_history (workflow_id, step_number, steps, total_sum_ms)
                SELECT workflow_id, step_number, count(*), sum(total_ms) FROM steps GROUP BY workflow_id, step_number
                """)
    }

    /// Adds the hourly rollups of schema v2 (hours past raw retention) to the hourly buckets.
    static func backfillFromRollups(_ db: Database) throws {
        let hourSpan = hour
        for dim in RunDimension.allCases {
            let (key, key2) = dim.keySQL
            try db.execute(
                sql: """
                    INSERT INTO run_buckets (dim, span, start, key, key2, runs, successes, duration_sum_ms, duration_histogram)
                    SELECT '\(dim.rawValue)', \(hourSpan), hour AS b, \(key) AS k, \(key2) AS k2,
                           sum(runs), sum(successes), sum(duration_sum_ms), fleet_histogram_union(duration_histogram)
                    FROM execution_rollups GROUP BY b, k, k2
                    \(runOnConflict)
                    """)
        }
        for dim in StepDimension.allCases {
            try db.execute(
                sql: """
                    INSERT INTO step_buckets (dim, span, start, key, action_type, steps, successes, cache_hits, degraded,
                                              total_sum_ms, total_histogram, ocr_histogram, ui_histogram, analyze_histogram)
                    SELECT '\(dim.rawValue)', \(hourSpan), hour AS b, \(dim.keySQL) AS k, action_type, sum(steps), sum(successes),
                           sum(cache_hits), sum(degraded), sum(total_sum_ms), fleet_histogram_union(total_histogram),
                           fleet_histogram_union(ocr_histogram), fleet_histogram_union(ui_histogram),
                           fleet_histogram_union(analyze_histogram)
                    FROM step_rollups GROUP BY b, k, action_type
                    \(stepOnConflict)
                    """)
        }
    }

    /// Deletes five-minute buckets older than `cutoff` (their raw rows are gone
    /// too); hourly buckets stay.
    static func deleteFineBuckets(_ db: Database, before cutoff: Int64) throws -> Int {
        try db.execute(sql: "DELETE FROM run_buckets WHERE span = ? AND start < ?", arguments: [fiveMinutes, cutoff])
        var deleted = db.changesCount
        try db.execute(sql: "DELETE FROM step_buckets WHERE span = ? AND start < ?", arguments: [fiveMinutes, cutoff])
        deleted += db.changesCount
        for table in ["run_bucket_deltas", "step_bucket_deltas"] {
            try db.execute(sql: "DELETE FROM \(table) WHERE span = ? AND start < ?", arguments: [fiveMinutes, cutoff])
            deleted += db.changesCount
        }
        return deleted
    }
}

/// One batch's steps, grouped per summary bucket target and merged: what the merge adds to
/// the buckets for a batch whose records are all new. Built when the batch is received
/// (``ReceivedBatch``), on the request's task, so the single writer only sums shares: the
/// grouping, sorting and merging of durations runs beside the writer's SQLite work instead of
/// inside its transaction. A batch with records already committed gets a share of its new
/// steps only, built in the transaction.
struct StepShare: Sendable {
    struct Target: Hashable, Sendable {
        var dim: SummaryBuckets.StepDimension
        var span: Int64
        var start: Int64
        var key: String
        var action: String
    }

    /// Counts and duration pairs (ascending, normalised) of one target.
    struct Totals: Sendable {
        var steps = 0
        var successes = 0
        var cacheHits = 0
        var degraded = 0
        var totalSum = 0.0
        var total: HistogramBlob.Pairs = []
        var ocr: HistogramBlob.Pairs = []
        var ui: HistogramBlob.Pairs = []
        var analyze: HistogramBlob.Pairs = []
    }

    struct HistoryKey: Hashable, Sendable {
        var workflow: String
        var step: Int
    }

    var targets: [Target: Totals] = [:]
    /// Steps and summed total durations per workflow and step number (ETAs).
    var history: [HistoryKey: (steps: Int, sum: Double)] = [:]
    /// UTC days the steps finished on (marked changed in `bucket_days`).
    var days: Set<Int64> = []

    /// The share of `steps`, all from `agent`.
    init(steps: some Sequence<StepFinished>, agent: String) {
        // Grouped per (workflow, action, five minutes) first: every group then feeds each dimension and span.
        var groups: [Group: StepValues] = [:]
        for e in steps {
            let start = BucketAccumulator.floor(e.finishedAt.microsecondsSinceEpoch, SummaryBuckets.fiveMinutes)
            // In place (default subscript): no copy of the value arrays per step.
            groups[Group(workflow: e.workflowID, action: e.actionType, start: start), default: StepValues()].add(e)
            let key = HistoryKey(workflow: e.workflowID, step: e.stepNumber)
            history[key, default: (0, 0)].steps += 1
            history[key, default: (0, 0)].sum += e.totalMs
        }
        var gathered: [Target: StepTotals] = [:]
        for (group, values) in groups {
            days.insert(BucketAccumulator.floor(group.start, SummaryBuckets.day))
            let total = HistogramBlob.pairs(ofMicros: values.total)
            let ocr = HistogramBlob.pairs(ofMicros: values.ocr)
            let ui = HistogramBlob.pairs(ofMicros: values.ui)
            let analyze = HistogramBlob.pairs(ofMicros: values.analyze)
            for dim in SummaryBuckets.StepDimension.allCases {
                let key =
                    switch dim {
                    case .fleet: ""
                    case .workflow: group.workflow
                    case .agent: agent
                    }
                for span in dim.spans {
                    let target = Target(dim: dim, span: span, start: BucketAccumulator.floor(group.start, span), key: key, action: group.action)
                    gathered[target, default: StepTotals()].add(values, total: total, ocr: ocr, ui: ui, analyze: analyze)
                }
            }
        }
        var scratch: [UInt64] = []
        targets.reserveCapacity(gathered.count)
        for (target, totals) in gathered {
            targets[target] = totals.merged(scratch: &scratch)
        }
    }

    /// Steps of one workflow and action in one five-minute bucket.
    struct Group: Hashable {
        var workflow: String
        var action: String
        var start: Int64
    }

    /// A step's values in one group, gathered before they are sorted into pairs.
    struct StepValues {
        var steps = 0
        var successes = 0
        var cacheHits = 0
        var degraded = 0
        var totalSum = 0.0
        var total: [UInt64] = []
        var ocr: [UInt64] = []
        var ui: [UInt64] = []
        var analyze: [UInt64] = []
    }
}

/// Counts and the pair lists of several groups or shares, merged once when written
/// (``HistogramBlob/mergeAll(_:scratch:)``): merging each into a running total made wide
/// targets (the fleet's hour) quadratic.
struct StepTotals {
    var steps = 0
    var successes = 0
    var cacheHits = 0
    var degraded = 0
    var totalSum = 0.0
    var total: [HistogramBlob.Pairs] = []
    var ocr: [HistogramBlob.Pairs] = []
    var ui: [HistogramBlob.Pairs] = []
    var analyze: [HistogramBlob.Pairs] = []

    mutating func add(
        _ v: StepShare.StepValues, total: HistogramBlob.Pairs, ocr: HistogramBlob.Pairs, ui: HistogramBlob.Pairs,
        analyze: HistogramBlob.Pairs
    ) {
        steps += v.steps
        successes += v.successes
        cacheHits += v.cacheHits
        degraded += v.degraded
        totalSum += v.totalSum
        append(total: total, ocr: ocr, ui: ui, analyze: analyze)
    }

    mutating func add(_ v: StepShare.Totals) {
        steps += v.steps
        successes += v.successes
        cacheHits += v.cacheHits
        degraded += v.degraded
        totalSum += v.totalSum
        append(total: v.total, ocr: v.ocr, ui: v.ui, analyze: v.analyze)
    }

    private mutating func append(
        total: HistogramBlob.Pairs, ocr: HistogramBlob.Pairs, ui: HistogramBlob.Pairs, analyze: HistogramBlob.Pairs
    ) {
        if !total.isEmpty { self.total.append(total) }
        if !ocr.isEmpty { self.ocr.append(ocr) }
        if !ui.isEmpty { self.ui.append(ui) }
        if !analyze.isEmpty { self.analyze.append(analyze) }
    }

    func merged(scratch: inout [UInt64]) -> StepShare.Totals {
        StepShare.Totals(
            steps: steps, successes: successes, cacheHits: cacheHits, degraded: degraded, totalSum: totalSum,
            total: HistogramBlob.mergeAll(total, scratch: &scratch), ocr: HistogramBlob.mergeAll(ocr, scratch: &scratch),
            ui: HistogramBlob.mergeAll(ui, scratch: &scratch), analyze: HistogramBlob.mergeAll(analyze, scratch: &scratch))
    }
}

/// The bucket updates of one merge transaction, gathered in memory and
/// written once at its end, as delta rows: the batches' step shares summed per target,
/// and finished executions per dimension and span.
struct BucketAccumulator {
    struct RunTarget: Hashable {
        var dim: SummaryBuckets.RunDimension
        var span: Int64
        var start: Int64
        var key: String
        var key2: String
    }

    struct RunTotals {
        var runs = 0
        var successes = 0
        var durationSum = 0.0
        var durations: [UInt64] = []
    }

    var steps: [StepShare.Target: StepTotals] = [:]
    var runs: [RunTarget: RunTotals] = [:]
    var history: [StepShare.HistoryKey: (steps: Int, sum: Double)] = [:]
    var days: Set<Int64> = []

    /// One batch's steps.
    mutating func add(_ share: StepShare) {
        for (target, totals) in share.targets {
            steps[target, default: StepTotals()].add(totals)
        }
        for (key, value) in share.history {
            history[key, default: (0, 0)].steps += value.steps
            history[key, default: (0, 0)].sum += value.sum
        }
        days.formUnion(share.days)
    }

    /// A finished execution, counted once (the merge skips a second `execution_finished`).
    mutating func addRun(
        workflow: String, agent: String, environment: String?, finishedAt: Int64, success: Bool, durationMs: Double?
    ) {
        let micros = HistogramBlob.micros(durationMs)
        days.insert(Self.floor(finishedAt, SummaryBuckets.day))
        for dim in SummaryBuckets.RunDimension.allCases {
            for span in dim.spans {
                let start = Self.floor(finishedAt, span)
                let (key, key2) = dim.keys(workflow: workflow, agent: agent, environment: environment)
                let target = RunTarget(dim: dim, span: span, start: start, key: key, key2: key2)
                runs[target, default: RunTotals()].runs += 1
                if success { runs[target, default: RunTotals()].successes += 1 }
                if let micros, let durationMs {
                    runs[target, default: RunTotals()].durationSum += durationMs
                    runs[target, default: RunTotals()].durations.append(micros)
                }
            }
        }
    }

    var isEmpty: Bool { steps.isEmpty && runs.isEmpty }

    static func floor(_ t: Int64, _ span: Int64) -> Int64 {
        let q = t / span
        return (t % span < 0 ? q - 1 : q) * span
    }

    /// Writes everything gathered and empties the accumulator. Returns the delta rows written.
    @discardableResult
    mutating func write(_ db: Database) throws -> Int {
        var scratch: [UInt64] = []
        let stepStatement = try db.cachedStatement(sql: SummaryBuckets.stepDeltaInsert)
        for (t, v) in steps {
            try stepStatement.execute(arguments: [
                t.dim.rawValue, t.span, t.start, t.key, t.action, v.steps, v.successes, v.cacheHits, v.degraded, v.totalSum,
                HistogramBlob.encode(HistogramBlob.mergeAll(v.total, scratch: &scratch)),
                HistogramBlob.encode(HistogramBlob.mergeAll(v.ocr, scratch: &scratch)),
                HistogramBlob.encode(HistogramBlob.mergeAll(v.ui, scratch: &scratch)),
                HistogramBlob.encode(HistogramBlob.mergeAll(v.analyze, scratch: &scratch)),
            ])
        }
        let runStatement = try db.cachedStatement(sql: SummaryBuckets.runDeltaInsert)
        for (t, v) in runs {
            try runStatement.execute(arguments: [
                t.dim.rawValue, t.span, t.start, t.key, t.key2, v.runs, v.successes, v.durationSum,
                HistogramBlob.encode(HistogramBlob.pairs(ofMicros: v.durations)),
            ])
        }
        let historyStatement = try db.cachedStatement(
            sql: """
                INSERT INTO step_history (workflow_id, step_number, steps, total_sum_ms) VALUES (?, ?, ?, ?)
                ON CONFLICT (workflow_id, step_number) DO UPDATE SET
                    steps = steps + excluded.steps, total_sum_ms = total_sum_ms + excluded.total_sum_ms
                """)
        for (key, value) in history {
            try historyStatement.execute(arguments: [key.workflow, key.step, value.steps, value.sum])
        }
        let dayStatement = try db.cachedStatement(
            sql: "INSERT INTO bucket_days (start, version) VALUES (?, 1) ON CONFLICT (start) DO UPDATE SET version = version + 1")
        for day in days { try dayStatement.execute(arguments: [day]) }
        let rows = steps.count + runs.count
        steps.removeAll()
        runs.removeAll()
        history.removeAll()
        days.removeAll()
        return rows
    }
}

extension StepShare.StepValues {
    mutating func add(_ e: StepFinished) {
        steps += 1
        if e.success { successes += 1 }
        if e.cacheHit { cacheHits += 1 }
        if e.degraded { degraded += 1 }
        totalSum += e.totalMs
        if let v = HistogramBlob.micros(e.totalMs) { total.append(v) }
        if let v = HistogramBlob.micros(e.ocrMs) { ocr.append(v) }
        if let v = HistogramBlob.micros(e.uiMs) { ui.append(v) }
        if let v = HistogramBlob.micros(e.analyzeMs) { analyze.append(v) }
    }
}
