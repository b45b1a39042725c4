import FleetCore

// The shapes the summaries return. JSON keys are snake_case; an unknown
// value (below the minimum sample, or nothing to measure) is null, never 0.

/// Count, mean and percentiles of durations in milliseconds.
public struct DurationStats: Sendable, Hashable, Encodable {
    public var count: Int
    public var meanMs: Double
    public var p50Ms: Double
    public var p95Ms: Double
    public var p99Ms: Double

    enum CodingKeys: String, CodingKey {
        case count, meanMs = "mean_ms", p50Ms = "p50_ms", p95Ms = "p95_ms", p99Ms = "p99_ms"
    }
}

/// Runs of executions in one group (a workflow, agent or environment).
public struct RunSummary: Sendable, Hashable, Encodable {
    public var key: String
    /// Finished executions in the window.
    public var runs: Int
    public var successes: Int
    /// successes / runs, or nil when runs < min_sample.
    @NullEncoded public var successRate: Double?
    @NullEncoded public var duration: DurationStats?

    enum CodingKeys: String, CodingKey {
        case key, runs, successes, successRate = "success_rate", duration
    }
}

/// Steps of one action type (or all steps of a workflow).
public struct StepSummary: Sendable, Hashable, Encodable {
    public var key: String
    public var steps: Int
    @NullEncoded public var successRate: Double?
    @NullEncoded public var duration: DurationStats?
    @NullEncoded public var ocrP95Ms: Double?
    @NullEncoded public var uiP95Ms: Double?
    @NullEncoded public var analyzeP95Ms: Double?
    @NullEncoded public var cacheHitRatio: Double?
    @NullEncoded public var degradedRatio: Double?

    enum CodingKeys: String, CodingKey {
        case key, steps, successRate = "success_rate", duration
        case ocrP95Ms = "ocr_p95_ms", uiP95Ms = "ui_p95_ms", analyzeP95Ms = "analyze_p95_ms"
        case cacheHitRatio = "cache_hit_ratio", degradedRatio = "degraded_ratio"
    }
}

/// Recovery attempts with one strategy.
public struct RecoverySummary: Sendable, Hashable, Encodable {
    public var strategy: String
    public var attempts: Int
    public var successes: Int
    @NullEncoded public var successRate: Double?

    enum CodingKeys: String, CodingKey { case strategy, attempts, successes, successRate = "success_rate" }
}

/// A running execution, with progress and ETA from its workflow's history.
public struct RunningExecution: Sendable, Hashable, Encodable {
    public var agentID: String
    public var executionID: String
    public var workflowID: String
    @NullEncoded public var envHash: String?
    @NullEncoded public var startedAt: Timestamp?
    @NullEncoded public var lastStepAt: Timestamp?
    public var stepsDone: Int
    @NullEncoded public var totalSteps: Int?
    /// 0…100, nil when the total is unknown.
    @NullEncoded public var progressPercent: Double?
    /// Estimated time to completion, nil without history.
    @NullEncoded public var etaSeconds: Double?
    public var stuck: Bool

    enum CodingKeys: String, CodingKey {
        case agentID = "agent_id", executionID = "execution_id", workflowID = "workflow_id", envHash = "env_hash"
        case startedAt = "started_at", lastStepAt = "last_step_at", stepsDone = "steps_done", totalSteps = "total_steps"
        case progressPercent = "progress_percent", etaSeconds = "eta_seconds", stuck
    }
}

/// Liveness of an agent from its last contact.
public enum Liveness: String, Sendable, Hashable, Encodable, CaseIterable {
    case online, stale, offline
}

/// One agent as an operator sees it.
public struct AgentSummary: Sendable, Hashable, Encodable {
    public var agentID: String
    public var liveness: Liveness
    public var lastSeen: Timestamp
    @NullEncoded public var envHash: String?
    /// From the latest resource sample; nil when none says.
    @NullEncoded public var executorAlive: Bool?
    @NullEncoded public var walBacklogEvents: Int?
    @NullEncoded public var walBacklogBytes: Int?
    @NullEncoded public var droppedEvents: Int?
    @NullEncoded public var lostEvents: Int?
    @NullEncoded public var lastError: String?

    enum CodingKeys: String, CodingKey {
        case agentID = "agent_id", liveness, lastSeen = "last_seen", envHash = "env_hash"
        case executorAlive = "executor_alive", walBacklogEvents = "wal_backlog_events"
        case walBacklogBytes = "wal_backlog_bytes", droppedEvents = "dropped_events", lostEvents = "lost_events"
        case lastError = "last_error"
    }
}
