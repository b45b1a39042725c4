import FleetCore
import GRDB
import Histogram

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The one place fleet numbers are computed; the admin API, /metrics and
/// fleetctl all read them from here. Success rates below the minimum sample
/// are unknown (nil), never 0. Percentiles come from HDR histograms with
/// three significant digits.
public struct Summaries: Sendable {
    let store: FleetStore
    let settings: CollectorConfiguration.Summaries
    let clock: @Sendable () -> Timestamp
    /// `store.raw_retention`, when raw rows are deleted after it.
    let rawRetention: Duration?

    public init(
        store: FleetStore, settings: CollectorConfiguration.Summaries, rawRetention: Duration? = nil,
        clock: @escaping @Sendable () -> Timestamp = { .now() }
    ) {
        self.store = store
        self.settings = settings
        self.rawRetention = rawRetention
        self.clock = clock
    }

    public var now: Timestamp { clock() }

    func rate(_ successes: Int, of total: Int) -> Double? {
        total >= settings.minSample && total > 0 ? Double(successes) / Double(total) : nil
    }

    /// Raw rows older than this are gone (retention); window edges before it are widened to the hour.
    var rawHorizon: Int64? {
        rawRetention.map { now.microsecondsSinceEpoch - $0.microseconds }
    }

    // MARK: Executions

    /// Finished executions in `window`, grouped by `group`, optionally for one workflow. Whole
    /// hours and five-minute slots come from the summary buckets, the edges from raw rows.
    public func runs(by group: RunGrouping, window: SummaryWindow, workflow: String? = nil) async throws -> [RunSummary] {
        let horizon = rawHorizon
        let source = group.bucketSource(workflow: workflow)
        // By finish time: the window's edges are short, while the planner would otherwise pick
        // `executions_by_workflow` for a workflow and read every execution it ever had.
        var rawSQL = """
            SELECT \(group.column), status = 'success', coalesce(duration_ms, (finished_at - started_at) / 1000.0)
            FROM executions INDEXED BY executions_by_finish
            WHERE finished_at >= ? AND finished_at < ? AND status IS NOT NULL
            """
        if workflow != nil { rawSQL += " AND workflow_id = ?" }
        let rawQuery = rawSQL
        // Folded buckets and the deltas not folded yet.
        var bucketFilter = "WHERE dim = ? AND span = ? AND start >= ? AND start < ?"
        if source.key != nil { bucketFilter += " AND key = ?" }
        let bucketColumns = "SELECT \(source.column), runs, successes, duration_sum_ms, duration_histogram"
        let bucketQuery = """
            \(bucketColumns) FROM run_buckets \(bucketFilter)
            UNION ALL \(bucketColumns) FROM run_bucket_deltas \(bucketFilter)
            """
        let groups = try await store.read { db in
            let plan = try WindowPlan(window: window, rawHorizon: horizon, spans: source.dimension.spans, db: db)
            var groups: [String: RunAccumulator] = [:]
            for range in plan.raw {
                var arguments: StatementArguments = [range.lowerBound, range.upperBound]
                if let workflow { _ = arguments.append(contentsOf: [workflow]) }
                let rows = try Row.fetchCursor(db, sql: rawQuery, arguments: arguments)
                while let row = try rows.next() {
                    // Mutate in place (the default subscript): no copy of the histogram per row.
                    groups[Self.label(row[0]), default: RunAccumulator()].add(success: row[1], durationMs: row[2])
                }
            }
            for buckets in plan.buckets {
                var arguments: StatementArguments = [source.dimension.rawValue, buckets.span, buckets.from, buckets.to]
                if let key = source.key { _ = arguments.append(contentsOf: [key]) }
                let rows = try Row.fetchCursor(db, sql: bucketQuery, arguments: arguments + arguments)
                while let row = try rows.next() {
                    groups[Self.label(row[0]), default: RunAccumulator()].add(bucket: row)
                }
            }
            return groups
        }
        return groups.map { key, g in
            RunSummary(
                key: key, runs: g.runs, successes: g.successes, successRate: rate(g.successes, of: g.runs),
                duration: g.durations.stats)
        }.sorted { $0.key < $1.key }
    }

    /// A group's name: an unknown environment (NULL or '') reads `unknown`.
    static func label(_ value: String?) -> String {
        guard let value, !value.isEmpty else { return "unknown" }
        return value
    }

    public enum RunGrouping: Sendable {
        case workflow, agent, environment
        /// One group, `all`, for the whole fleet.
        case fleet
        var column: String {
            switch self {
            case .workflow: "workflow_id"
            case .agent: "agent_id"
            case .environment: "env_hash"
            case .fleet: "'all'"
            }
        }

        /// The bucket dimension answering this grouping, the key to filter on, and the group column.
        func bucketSource(workflow: String?) -> (dimension: SummaryBuckets.RunDimension, key: String?, column: String) {
            switch (self, workflow) {
            case (.fleet, nil): (.fleet, "", "'all'")
            case (.fleet, let workflow?): (.workflow, workflow, "'all'")
            case (.workflow, let workflow): (.workflow, workflow, "key")
            case (.environment, nil): (.environment, nil, "key")
            case (.environment, let workflow?): (.workflowEnvironment, workflow, "key2")
            case (.agent, nil): (.agent, nil, "key")
            case (.agent, let workflow?): (.workflowAgent, workflow, "key2")
            }
        }
    }

    // MARK: Steps

    /// Steps finished in `window`, grouped by action type, for the fleet or one workflow or one
    /// agent (both: from raw rows only).
    /// With `combineActions`, one group `all` over every action type.
    public func steps(
        window: SummaryWindow, workflow: String? = nil, agent: String? = nil, combineActions: Bool = false
    ) async throws -> [StepSummary] {
        let horizon = rawHorizon
        // Both a workflow and an agent: no buckets hold that pair, so raw rows only.
        let source: (dimension: SummaryBuckets.StepDimension, key: String)?
        switch (workflow, agent) {
        case (nil, nil): source = (.fleet, "")
        case (let workflow?, nil): source = (.workflow, workflow)
        case (nil, let agent?): source = (.agent, agent)
        case (_?, _?): source = nil
        }
        var rawSQL = """
            SELECT action_type, success, total_ms, ocr_ms, ui_ms, analyze_ms, cache_hit, degraded
            FROM steps WHERE finished_at >= ? AND finished_at < ?
            """
        var filters: [String] = []
        if let workflow {
            rawSQL += " AND workflow_id = ?"
            filters.append(workflow)
        }
        if let agent {
            rawSQL += " AND agent_id = ?"
            filters.append(agent)
        }
        let rawQuery = rawSQL
        let rawFilters = filters
        return try await store.read { db in
            let plan =
                if let source {
                    try WindowPlan(window: window, rawHorizon: horizon, spans: source.dimension.spans, db: db)
                } else {
                    WindowPlan(rawOnly: window)
                }
            var groups: [String: StepAccumulator] = [:]
            for range in plan.raw {
                var arguments: StatementArguments = [range.lowerBound, range.upperBound]
                _ = arguments.append(contentsOf: StatementArguments(rawFilters))
                let cursor = try Row.fetchCursor(db, sql: rawQuery, arguments: arguments)
                while let row = try cursor.next() {
                    let key: String = combineActions ? "all" : row[0]
                    groups[key, default: StepAccumulator()].add(row)
                }
            }
            for buckets in plan.buckets {
                guard let source else { break }
                let columns = """
                    SELECT action_type, steps, successes, cache_hits, degraded, total_sum_ms, total_histogram, ocr_histogram,
                           ui_histogram, analyze_histogram
                    """
                let filter = "WHERE dim = ? AND key = ? AND span = ? AND start >= ? AND start < ?"
                let arguments: StatementArguments = [source.dimension.rawValue, source.key, buckets.span, buckets.from, buckets.to]
                // Folded buckets and the deltas not folded yet.
                let cursor = try Row.fetchCursor(
                    db, sql: "\(columns) FROM step_buckets \(filter) UNION ALL \(columns) FROM step_bucket_deltas \(filter)",
                    arguments: arguments + arguments)
                while let row = try cursor.next() {
                    let key: String = combineActions ? "all" : row[0]
                    groups[key, default: StepAccumulator()].add(bucket: row)
                }
            }
            return groups.map { key, g in g.summary(key: key, minSample: settings.minSample) }.sorted { $0.key < $1.key }
        }
    }

    // MARK: Recoveries

    public func recoveries(window: SummaryWindow, workflow: String? = nil) async throws -> [RecoverySummary] {
        var sql = "SELECT strategy, count(*), sum(success) FROM recoveries WHERE ts >= ? AND ts < ?"
        var arguments: StatementArguments = [window.from.microsecondsSinceEpoch, window.to.microsecondsSinceEpoch]
        if let workflow {
            sql += " AND workflow_id = ?"
            _ = arguments.append(contentsOf: [workflow])
        }
        sql += " GROUP BY strategy ORDER BY strategy"
        let finalSQL = sql
        let finalArguments = arguments
        let rows = try await store.read { db in
            try Row.fetchAll(db, sql: finalSQL, arguments: finalArguments).map { row -> (String, Int, Int) in
                (row[0], row[1], row[2])
            }
        }
        return rows.map { RecoverySummary(strategy: $0.0, attempts: $0.1, successes: $0.2, successRate: rate($0.2, of: $0.1)) }
    }

    // MARK: Running and stuck executions

    /// Executions with no `execution_finished` yet, with progress, ETA and whether they are stuck
    /// (no step for longer than `summaries.stuck_after`).
    public func running(onlyStuck: Bool = false, executionID: String? = nil) async throws -> [RunningExecution] {
        let now = self.now.microsecondsSinceEpoch
        let stuckAfter = settings.stuckAfter.microseconds
        return try await store.read { db in
            // The partial index of open executions: a scan by start time would read every execution ever run.
            var sql = """
                SELECT agent_id, execution_id, workflow_id, env_hash, started_at, last_step_at, steps_seen, total_steps
                FROM executions INDEXED BY executions_open WHERE status IS NULL
                """
            var arguments: StatementArguments = []
            if let executionID {
                sql += " AND execution_id = ?"
                arguments = [executionID]
            }
            var history: [String: StepHistory] = [:]
            var result: [RunningExecution] = []
            for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
                let workflow: String = row[2]
                let started: Int64? = row[4]
                let lastStep: Int64? = row[5]
                let done: Int = row[6]
                let total: Int? = row[7]
                let lastActivity = lastStep ?? started ?? now
                let stuck = now - lastActivity > stuckAfter
                if onlyStuck && !stuck { continue }
                if history[workflow] == nil { history[workflow] = try StepHistory.load(db, workflow: workflow) }
                let eta = total.flatMap { history[workflow]?.remainingMs(after: done, total: $0) }.map { $0 / 1000 }
                result.append(
                    RunningExecution(
                        agentID: row[0], executionID: row[1], workflowID: workflow, envHash: row[3],
                        startedAt: started.map(Timestamp.init(microsecondsSinceEpoch:)),
                        lastStepAt: lastStep.map(Timestamp.init(microsecondsSinceEpoch:)), stepsDone: done, totalSteps: total,
                        progressPercent: total.flatMap { $0 > 0 ? min(100, Double(done) * 100 / Double($0)) : nil },
                        etaSeconds: eta, stuck: stuck))
            }
            return result.sorted {
                ($0.startedAt?.microsecondsSinceEpoch ?? .max, $0.agentID, $0.executionID)
                    < ($1.startedAt?.microsecondsSinceEpoch ?? .max, $1.agentID, $1.executionID)
            }
        }
    }

    // MARK: Agents

    public func agents(id: String? = nil) async throws -> [AgentSummary] {
        let now = self.now.microsecondsSinceEpoch
        let online = settings.onlineWithin.microseconds
        let stale = settings.staleWithin.microseconds
        return try await store.read { db in
            var sql = """
                SELECT a.agent_id, a.last_seen, a.env_hash,
                       (SELECT executor_alive FROM resource_samples r WHERE r.agent_id = a.agent_id ORDER BY ts DESC LIMIT 1),
                       s.wal_backlog_events, s.wal_backlog_bytes, s.dropped_events, s.lost_events, s.last_error
                FROM agents a LEFT JOIN agent_status s ON s.agent_id = a.agent_id
                """
            var arguments: StatementArguments = []
            if let id {
                sql += " WHERE a.agent_id = ?"
                arguments = [id]
            }
            sql += " ORDER BY a.agent_id"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                let lastSeen: Int64 = row[1]
                let age = now - lastSeen
                let liveness: Liveness = age <= online ? .online : age <= stale ? .stale : .offline
                return AgentSummary(
                    agentID: row[0], liveness: liveness, lastSeen: Timestamp(microsecondsSinceEpoch: lastSeen),
                    envHash: row[2], executorAlive: row[3], walBacklogEvents: row[4], walBacklogBytes: row[5],
                    droppedEvents: row[6], lostEvents: row[7], lastError: row[8])
            }
        }
    }
}

extension Duration {
    var microseconds: Int64 {
        components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000
    }
}

/// Collects durations (ms) at microsecond resolution with HDR precision (three significant
/// digits). A group starts sparse (value → count), which keeps thousands of small groups (one per
/// agent) cheap, and turns dense (a count per HDR bucket, ``HistogramBlob/bucketIndex(_:)``) once
/// it holds many distinct values: a week of fleet buckets adds millions of pairs, each one
/// array slot (recording each into a `Histogram` was most of a 7-day summary's time). Dense
/// percentiles come from an HDR `Histogram` made from the counts, one record per bucket.
struct DurationAccumulator {
    private var sparse: [UInt64: UInt64] = [:]
    /// ``HistogramBlob/bucketCount`` counts once dense; empty while sparse.
    private var dense: [UInt64] = []
    /// The lowest and highest dense slots holding a count.
    private var low = Int.max
    private var high = -1
    var sum = 0.0
    var count = 0

    /// Distinct values kept sparse before switching to dense counts.
    static let denseAfter = 2048

    mutating func record(ms: Double) {
        guard let micros = HistogramBlob.micros(ms) else { return }
        add(micros, count: 1)
        sum += ms
        count += 1
    }

    private mutating func add(_ micros: UInt64, count n: UInt64) {
        if !dense.isEmpty {
            let slot = HistogramBlob.bucketIndex(min(micros, HistogramBlob.maxMicros))
            dense[slot] &+= n
            low = min(low, slot)
            high = max(high, slot)
            return
        }
        sparse[HistogramBlob.normalized(micros), default: 0] += n
        if sparse.count > Self.denseAfter { densify() }
    }

    private mutating func densify() {
        dense = [UInt64](repeating: 0, count: HistogramBlob.bucketCount)
        let values = sparse
        sparse = [:]
        for (value, n) in values { add(value, count: n) }
    }

    /// Adds a bucket's histogram (``HistogramBlob``) and its sum.
    mutating func merge(encoded: Data, sumMs: Double) {
        // A large blob goes straight to the dense counts (no dictionary on the way).
        if dense.isEmpty && sparse.count + encoded.count / 3 > Self.denseAfter { densify() }
        var added: UInt64 = 0
        if dense.isEmpty {
            HistogramBlob.forEachPair(encoded) { value, n in
                add(value, count: n)
                added += n
            }
        } else {
            let result = HistogramBlob.add(encoded, toCounts: &dense)
            added = result.added
            low = min(low, result.low)
            high = max(high, result.high)
        }
        count += Int(added)
        sum += sumMs
    }

    /// The values at `ps` percent as HDR reports them: the highest value of the bucket holding
    /// each rank.
    func percentilesMs(_ ps: [Double]) -> [Double] {
        if dense.isEmpty {
            let total = sparse.values.reduce(0, +)
            let ascending = sparse.sorted { $0.key < $1.key }.map { (value: $0.key, count: $0.value) }
            return ps.map { Double(HistogramBlob.percentile($0, total: total, ascending: ascending)) / 1000 }
        }
        guard low <= high else { return ps.map { _ in 0 } }
        var histogram = Histogram<UInt64>(highestTrackableValue: HistogramBlob.maxMicros, numberOfSignificantValueDigits: .three)
        // Each bucket's highest value, so that the largest recorded (HDR's cap) is a bucket's top too.
        for slot in low...high where dense[slot] != 0 {
            _ = histogram.record(HistogramBlob.highestEquivalent(HistogramBlob.bucketValue(slot)), count: dense[slot])
        }
        return ps.map { Double(histogram.valueAtPercentile($0)) / 1000 }
    }

    func percentileMs(_ p: Double) -> Double { percentilesMs([p])[0] }

    var stats: DurationStats? {
        guard count > 0 else { return nil }
        let p = percentilesMs([50, 95, 99])
        return DurationStats(count: count, meanMs: sum / Double(count), p50Ms: p[0], p95Ms: p[1], p99Ms: p[2])
    }
}

/// One group of finished executions.
struct RunAccumulator {
    var runs = 0
    var successes = 0
    var durations = DurationAccumulator()

    mutating func add(success: Bool, durationMs: Double?) {
        runs += 1
        if success { successes += 1 }
        if let durationMs { durations.record(ms: durationMs) }
    }

    /// Adds a `run_buckets` row (group, runs, successes, duration_sum_ms, duration_histogram).
    mutating func add(bucket row: Row) {
        runs += row[1] as Int
        successes += row[2] as Int
        durations.merge(encoded: row[4], sumMs: row[3])
    }
}

/// Per-action step aggregation.
struct StepAccumulator {
    var steps = 0
    var successes = 0
    var cacheHits = 0
    var degraded = 0
    var total = DurationAccumulator()
    var ocr = DurationAccumulator()
    var ui = DurationAccumulator()
    var analyze = DurationAccumulator()

    mutating func add(_ row: Row) {
        steps += 1
        if row[1] as Bool { successes += 1 }
        total.record(ms: row[2])
        if let v: Double = row[3] { ocr.record(ms: v) }
        if let v: Double = row[4] { ui.record(ms: v) }
        if let v: Double = row[5] { analyze.record(ms: v) }
        if row[6] as Bool { cacheHits += 1 }
        if row[7] as Bool { degraded += 1 }
    }

    /// Adds a `step_buckets` row (action_type, steps, successes, cache_hits, degraded, total_sum_ms, histograms).
    mutating func add(bucket row: Row) {
        steps += row[1] as Int
        successes += row[2] as Int
        cacheHits += row[3] as Int
        degraded += row[4] as Int
        total.merge(encoded: row[6], sumMs: row[5])
        ocr.merge(encoded: row[7], sumMs: 0)
        ui.merge(encoded: row[8], sumMs: 0)
        analyze.merge(encoded: row[9], sumMs: 0)
    }

    func summary(key: String, minSample: Int) -> StepSummary {
        StepSummary(
            key: key, steps: steps,
            successRate: steps >= minSample ? Double(successes) / Double(steps) : nil,
            duration: total.stats,
            ocrP95Ms: ocr.count > 0 ? ocr.percentileMs(95) : nil,
            uiP95Ms: ui.count > 0 ? ui.percentileMs(95) : nil,
            analyzeP95Ms: analyze.count > 0 ? analyze.percentileMs(95) : nil,
            cacheHitRatio: steps > 0 ? Double(cacheHits) / Double(steps) : nil,
            degradedRatio: steps > 0 ? Double(degraded) / Double(steps) : nil)
    }
}

/// A workflow's mean step durations by step number, for ETAs.
struct StepHistory {
    var meanByStep: [Int: Double]
    var overallMean: Double?

    /// From the merge's running totals per step number (all history of the workflow).
    static func load(_ db: Database, workflow: String) throws -> StepHistory {
        var means: [Int: Double] = [:]
        var sum = 0.0
        var count = 0
        for row in try Row.fetchAll(
            db, sql: "SELECT step_number, total_sum_ms, steps FROM step_history WHERE workflow_id = ? AND steps > 0",
            arguments: [workflow])
        {
            let total: Double = row[1]
            let n: Int = row[2]
            means[row[0]] = total / Double(n)
            sum += total
            count += n
        }
        return StepHistory(meanByStep: means, overallMean: count > 0 ? sum / Double(count) : nil)
    }

    /// Expected milliseconds for steps `done+1 … total`.
    func remainingMs(after done: Int, total: Int) -> Double? {
        guard let overallMean else { return nil }
        guard total > done else { return 0 }
        var ms = 0.0
        for step in (done + 1)...total { ms += meanByStep[step] ?? overallMean }
        return ms
    }
}
