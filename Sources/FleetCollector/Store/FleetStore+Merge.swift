import FleetCore
import GRDB
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A decoded batch as the ingest endpoint accepted it, with its steps' share of the summary
/// buckets, built here (on the request's task) rather than by the store's single writer.
public struct ReceivedBatch: Sendable {
    public let batch: Batch
    public let receivedAt: Timestamp
    /// The buckets' share of every step in the batch; used when all of its records are new.
    let steps: StepShare

    public init(batch: Batch, receivedAt: Timestamp = .now()) {
        self.batch = batch
        self.receivedAt = receivedAt
        steps = StepShare(
            steps: batch.records.lazy.compactMap {
                if case .stepFinished(let step) = $0.event.payload { step } else { nil }
            }, agent: batch.agentID)
    }
}

/// What one batch's merge did; the ingest response is built from it.
public struct MergeOutcome: Sendable, Hashable {
    /// Records stored for the first time.
    public var accepted: Int
    /// Records already committed earlier (resent or overlapping batches).
    public var duplicates: Int
    /// Every sequence in `batch.first...acknowledgedThrough` is committed.
    public var acknowledgedThrough: UInt64
    /// The highest sequence committed for this agent and epoch.
    public var highestSequence: UInt64
}

extension FleetStore {
    /// Merges batches in one durable transaction; idempotent on (agent id, epoch, sequence).
    public func merge(_ batches: [ReceivedBatch]) async throws -> [MergeOutcome] {
        let (outcomes, deltaRows) = try await pool.write { db in
            var merger = try Merger(db: db)
            let outcomes = try batches.map { try merger.merge($0) }
            return (outcomes, try merger.buckets.write(db))
        }
        pendingDeltaRows.withLock { $0 += deltaRows }
        return outcomes
    }
}

/// Merges within one write transaction.
struct Merger {
    let db: Database
    /// Environment of executions seen in this transaction.
    var executionEnvironments: [String: String?] = [:]
    let stepInserter: StepInserter
    /// Summary bucket updates, written once at the end of the transaction.
    var buckets = BucketAccumulator()
    /// The steps of the current batch that are new, when some of its records are not.
    var newSteps: [StepFinished] = []
    var collectNewSteps = false

    init(db: Database) throws {
        self.db = db
        stepInserter = try StepInserter(db)
    }

    mutating func merge(_ received: ReceivedBatch) throws -> MergeOutcome {
        let batch = received.batch
        guard let first = batch.firstSequence, let last = batch.lastSequence else {
            return MergeOutcome(accepted: 0, duplicates: 0, acknowledgedThrough: 0, highestSequence: 0)
        }
        let agent = batch.agentID
        let now = received.receivedAt.microsecondsSinceEpoch
        try db.cachedStatement(
            sql: """
                INSERT INTO agents (agent_id, first_seen, last_seen) VALUES (?, ?, ?)
                ON CONFLICT (agent_id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)
                """
        ).execute(arguments: [agent, now, now])

        var ranges = try DeliveryRanges.load(db, agentID: agent, epoch: batch.epoch)
        // All records new (the usual case): the batch's prepared step share goes to the buckets;
        // otherwise a share of the new steps only, gathered as they are inserted.
        let fresh = ranges.count(in: first...last) == 0
        newSteps.removeAll(keepingCapacity: true)
        collectNewSteps = !fresh
        var environment = try currentEnvironment(agent)
        var steps: [String: StepAggregate] = [:]
        executionEnvironments.removeAll(keepingCapacity: true)
        var accepted = 0
        var duplicates = 0
        for record in batch.records {
            if ranges.contains(record.sequence) {
                duplicates += 1
                continue
            }
            accepted += 1
            try insert(record.event, agent: agent, epoch: batch.epoch, environment: &environment, steps: &steps)
        }
        buckets.add(fresh ? received.steps : StepShare(steps: newSteps, agent: agent))
        for (executionID, aggregate) in steps {
            try db.cachedStatement(
                sql: """
                    INSERT INTO executions (agent_id, execution_id, workflow_id, env_hash, last_step_at, steps_seen)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (agent_id, execution_id) DO UPDATE SET
                        last_step_at = max(coalesce(last_step_at, 0), excluded.last_step_at),
                        steps_seen = steps_seen + excluded.steps_seen
                    """
            ).execute(arguments: [agent, executionID, aggregate.workflowID, aggregate.environment, aggregate.lastStepAt, aggregate.count])
        }
        ranges.insert(first...last)
        try DeliveryRanges.save(ranges, db, agentID: agent, epoch: batch.epoch)
        return MergeOutcome(
            accepted: accepted, duplicates: duplicates, acknowledgedThrough: last, highestSequence: ranges.highest ?? last)
    }

    struct StepAggregate {
        var workflowID: String
        var environment: String?
        var lastStepAt: Int64
        var count: Int
    }

    struct CurrentEnvironment {
        var hash: String?
        var since: Int64?
    }

    func currentEnvironment(_ agent: String) throws -> CurrentEnvironment {
        let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT env_hash, env_since FROM agents WHERE agent_id = ?"), arguments: [agent])
        return CurrentEnvironment(hash: row?[0], since: row?[1])
    }

    /// The environment an execution is attributed to: the one its agent had when it started.
    mutating func environment(ofExecution id: String, agent: String, fallback: String?) throws -> String? {
        if let known = executionEnvironments[id] { return known ?? fallback }
        let stored = try String?.fetchOne(
            db.cachedStatement(sql: "SELECT env_hash FROM executions WHERE agent_id = ? AND execution_id = ?"),
            arguments: [agent, id]) ?? nil
        executionEnvironments[id] = stored
        return stored ?? fallback
    }

    mutating func insert(
        _ event: Event, agent: String, epoch: WALEpoch, environment: inout CurrentEnvironment,
        steps: inout [String: StepAggregate]
    ) throws {
        let ts = event.timestamp.microsecondsSinceEpoch
        switch event.payload {
        case .executionStarted(let e):
            try db.cachedStatement(
                sql: """
                    INSERT INTO executions (agent_id, execution_id, workflow_id, env_hash, started_at, total_steps)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (agent_id, execution_id) DO UPDATE SET
                        workflow_id = excluded.workflow_id, env_hash = excluded.env_hash,
                        started_at = excluded.started_at, total_steps = coalesce(excluded.total_steps, total_steps)
                    """
            ).execute(arguments: [agent, e.executionID, e.workflowID, environment.hash, ts, e.totalSteps])
            executionEnvironments[e.executionID] = environment.hash
        case .executionFinished(let e):
            // Counted in the summary buckets once: a repeated execution_finished updates the row only.
            let previous = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT status, env_hash, started_at FROM executions WHERE agent_id = ? AND execution_id = ?"),
                arguments: [agent, e.executionID])
            if (previous?["status"] as String?) == nil {
                let started: Int64? = previous?["started_at"]
                let stored: String? = previous?["env_hash"]
                buckets.addRun(
                    workflow: e.workflowID, agent: agent, environment: stored ?? environment.hash, finishedAt: ts,
                    success: e.status == .success, durationMs: e.durationMs ?? started.map { Double(ts - $0) / 1000 })
            }
            try db.cachedStatement(
                sql: """
                    INSERT INTO executions (agent_id, execution_id, workflow_id, env_hash, finished_at, status, total_steps,
                                            steps_completed, steps_failed, duration_ms, error_message)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (agent_id, execution_id) DO UPDATE SET
                        finished_at = excluded.finished_at, status = excluded.status,
                        total_steps = coalesce(excluded.total_steps, total_steps),
                        steps_completed = excluded.steps_completed, steps_failed = excluded.steps_failed,
                        duration_ms = excluded.duration_ms, error_message = excluded.error_message,
                        env_hash = coalesce(env_hash, excluded.env_hash)
                    """
            ).execute(arguments: [
                agent, e.executionID, e.workflowID, environment.hash, ts, e.status.rawValue, e.totalSteps,
                e.stepsCompleted, e.stepsFailed, e.durationMs, e.errorMessage,
            ])
        case .stepFinished(let e):
            let env = try self.environment(ofExecution: e.executionID, agent: agent, fallback: environment.hash)
            try stepInserter.insert(e, agent: agent, environment: env)
            if collectNewSteps { newSteps.append(e) }
            let finished = e.finishedAt.microsecondsSinceEpoch
            if var aggregate = steps[e.executionID] {
                aggregate.lastStepAt = max(aggregate.lastStepAt, finished)
                aggregate.count += 1
                steps[e.executionID] = aggregate
            } else {
                steps[e.executionID] = StepAggregate(workflowID: e.workflowID, environment: env, lastStepAt: finished, count: 1)
            }
        case .recoveryAttempted(let e):
            try db.cachedStatement(
                sql: """
                    INSERT INTO recoveries (agent_id, ts, execution_id, workflow_id, node_id, strategy, success, duration_ms, command_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [agent, ts, e.executionID, e.workflowID, e.nodeID, e.strategy, e.success, e.durationMs, e.commandID])
        case .resolution(let e):
            try db.cachedStatement(
                sql: """
                    INSERT INTO resolutions (agent_id, ts, target_hash, strategy, success, duration_ms, confidence,
                                             screen_state_hash, candidates, error_type, execution_id, workflow_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                agent, ts, e.targetHash, e.strategy, e.success, e.durationMs, e.confidence, e.screenStateHash,
                e.candidates, e.errorType, e.executionID, e.workflowID,
            ])
        case .error(let e):
            try db.cachedStatement(
                sql: """
                    INSERT INTO errors (agent_id, ts, error_type, message, component, severity, context, execution_id, workflow_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                agent, ts, e.errorType, e.message, e.component, e.severity.rawValue, JSONText.encode(e.context),
                e.executionID, e.workflowID,
            ])
        case .resourceSample(let e):
            try db.cachedStatement(
                sql: """
                    INSERT INTO resource_samples (agent_id, ts, cpu_percent, memory_used_bytes, memory_total_bytes,
                                                  disk_free_bytes, gpus, executor_alive, cache_bytes)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                agent, ts, e.cpuPercent, Int64(clamping: e.memoryUsedBytes), Int64(clamping: e.memoryTotalBytes),
                Int64(clamping: e.diskFreeBytes), JSONText.encode(e.gpus), e.executorAlive,
                e.cacheBytes.map { Int64(clamping: $0) },
            ])
        case .environment(let e):
            let hash = EnvironmentHash(facts: e.facts).hex
            try db.cachedStatement(
                sql: """
                    INSERT INTO environments (env_hash, facts, first_seen, last_seen) VALUES (?, ?, ?, ?)
                    ON CONFLICT (env_hash) DO UPDATE SET
                        first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)
                    """
            ).execute(arguments: [hash, JSONText.encode(EnvironmentHash.canonicalFacts(e.facts)), ts, ts])
            try db.cachedStatement(
                sql: """
                    INSERT INTO agent_environments (agent_id, env_hash, first_seen, last_seen) VALUES (?, ?, ?, ?)
                    ON CONFLICT (agent_id, env_hash) DO UPDATE SET
                        first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)
                    """
            ).execute(arguments: [agent, hash, ts, ts])
            // Batches may arrive out of order: only a newer report changes the current environment.
            if environment.since.map({ ts >= $0 }) ?? true {
                environment = CurrentEnvironment(hash: hash, since: ts)
                try db.cachedStatement(sql: "UPDATE agents SET env_hash = ?, env_since = ? WHERE agent_id = ?")
                    .execute(arguments: [hash, ts, agent])
            }
        case .metric(let e):
            try db.cachedStatement(
                sql: "INSERT INTO metric_points (agent_id, ts, name, kind, value, labels) VALUES (?, ?, ?, ?, ?, ?)"
            ).execute(arguments: [agent, ts, e.name, e.kind.rawValue, e.value, JSONText.encode(e.labels)])
        case .commandResult(let e):
            try db.cachedStatement(
                sql: """
                    INSERT INTO command_results (agent_id, ts, command_id, action, status, exit_code, output_tail, duration_ms, reason)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [agent, ts, e.commandID, e.action, e.status.rawValue, e.exitCode, e.outputTail, e.durationMs, e.reason])
            try applyCommandResult(e, agent: agent, ts: ts)
        case .agentStatus(let e):
            try db.cachedStatement(
                sql: """
                    INSERT INTO agent_status (agent_id, epoch, reported_at, wal_backlog_events, wal_backlog_bytes,
                                              dropped_events, lost_events, last_error)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (agent_id) DO UPDATE SET
                        epoch = excluded.epoch, reported_at = excluded.reported_at,
                        wal_backlog_events = excluded.wal_backlog_events, wal_backlog_bytes = excluded.wal_backlog_bytes,
                        dropped_events = excluded.dropped_events, lost_events = excluded.lost_events,
                        last_error = excluded.last_error
                    WHERE excluded.reported_at >= agent_status.reported_at
                    """
            ).execute(arguments: [
                agent, Int64(bitPattern: epoch.rawValue), ts, Int64(clamping: e.walBacklogEvents),
                Int64(clamping: e.walBacklogBytes), Int64(clamping: e.droppedEvents), Int64(clamping: e.lostEvents),
                e.lastError,
            ])
        }
    }
}

/// Compact JSON text for map and list columns, keys sorted.
enum JSONText {
    static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }
}
