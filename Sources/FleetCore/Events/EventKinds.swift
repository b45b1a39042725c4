// The payloads of every event kind in DESIGN.md ("Events"), plus
// `agent_status`, which the agent uses to report its own WAL and delivery
// state. Durations are milliseconds carried at microsecond resolution.

/// How an execution ended.
public enum ExecutionStatus: String, Sendable, Hashable, CaseIterable, Codable {
    case success
    case failed
    case timeout
    case cancelled
}

/// Severity of an `error` event.
public enum Severity: String, Sendable, Hashable, CaseIterable, Codable {
    case low
    case medium
    case high
    case critical
}

/// What a `metric` event samples.
public enum MetricKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// `value` is an increment of a monotonic counter.
    case counter
    /// `value` is the current level.
    case gauge
    /// `value` is one observation of a distribution.
    case histogram
}

/// The outcome of a command an agent was asked to run.
public enum CommandStatus: String, Sendable, Hashable, CaseIterable, Codable {
    case succeeded
    case failed
    /// The agent's own configuration does not allow the action or its arguments.
    case refused
    /// The action ran past its timeout and was stopped.
    case timedOut = "timed_out"
    /// The command reached the agent after its deadline and was not run.
    case expired
    /// The agent started it; a final status follows.
    case running

    /// Whether this is the command's outcome (every status but `running`).
    public var isFinal: Bool { self != .running }
}

/// A workflow run began.
public struct ExecutionStarted: Sendable, Hashable {
    public var executionID: String
    public var workflowID: String
    /// Steps the workflow has, when the executor knows it up front.
    public var totalSteps: Int?

    public init(executionID: String, workflowID: String, totalSteps: Int? = nil) {
        self.executionID = executionID
        self.workflowID = workflowID
        self.totalSteps = totalSteps
    }
}

/// A workflow run ended.
public struct ExecutionFinished: Sendable, Hashable {
    public var executionID: String
    public var workflowID: String
    public var status: ExecutionStatus
    public var totalSteps: Int?
    public var stepsCompleted: Int
    public var stepsFailed: Int
    /// Monotonic duration of the whole run.
    public var durationMs: Double?
    public var errorMessage: String?

    public init(
        executionID: String, workflowID: String, status: ExecutionStatus, totalSteps: Int? = nil,
        stepsCompleted: Int, stepsFailed: Int, durationMs: Double? = nil, errorMessage: String? = nil
    ) {
        self.executionID = executionID
        self.workflowID = workflowID
        self.status = status
        self.totalSteps = totalSteps
        self.stepsCompleted = stepsCompleted
        self.stepsFailed = stepsFailed
        self.durationMs = durationMs
        self.errorMessage = errorMessage
    }
}

/// One step of an execution finished, with its perception timings.
public struct StepFinished: Sendable, Hashable {
    public var executionID: String
    public var workflowID: String
    public var nodeID: String
    public var stepNumber: Int
    /// `click`, `type`, `wait`, `scroll`, … as the executor names it.
    public var actionType: String
    public var startedAt: Timestamp
    public var finishedAt: Timestamp
    public var success: Bool
    public var error: String?
    public var ocrMs: Double?
    public var uiMs: Double?
    public var analyzeMs: Double?
    /// Monotonic duration of the whole step.
    public var totalMs: Double
    public var cacheHit: Bool
    public var degraded: Bool

    public init(
        executionID: String, workflowID: String, nodeID: String, stepNumber: Int, actionType: String,
        startedAt: Timestamp, finishedAt: Timestamp, success: Bool, error: String? = nil,
        ocrMs: Double? = nil, uiMs: Double? = nil, analyzeMs: Double? = nil, totalMs: Double,
        cacheHit: Bool = false, degraded: Bool = false
    ) {
        self.executionID = executionID
        self.workflowID = workflowID
        self.nodeID = nodeID
        self.stepNumber = stepNumber
        self.actionType = actionType
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.success = success
        self.error = error
        self.ocrMs = ocrMs
        self.uiMs = uiMs
        self.analyzeMs = analyzeMs
        self.totalMs = totalMs
        self.cacheHit = cacheHit
        self.degraded = degraded
    }
}

/// The executor tried a self-healing strategy after a failed step.
public struct RecoveryAttempted: Sendable, Hashable {
    public var executionID: String
    public var workflowID: String
    public var nodeID: String?
    public var strategy: String
    public var success: Bool
    public var durationMs: Double
    /// Set when a fleet command caused the attempt.
    public var commandID: String?

    public init(
        executionID: String, workflowID: String, nodeID: String? = nil, strategy: String, success: Bool,
        durationMs: Double, commandID: String? = nil
    ) {
        self.executionID = executionID
        self.workflowID = workflowID
        self.nodeID = nodeID
        self.strategy = strategy
        self.success = success
        self.durationMs = durationMs
        self.commandID = commandID
    }
}

/// The executor resolved (or failed to resolve) a target on screen.
public struct Resolution: Sendable, Hashable {
    /// Hash of the target specification being resolved.
    public var targetHash: String
    public var strategy: String
    public var success: Bool
    public var durationMs: Double
    /// 0…1 when the strategy reports one.
    public var confidence: Double?
    public var screenStateHash: String?
    /// Number of candidates considered.
    public var candidates: Int?
    public var errorType: String?
    public var executionID: String?
    public var workflowID: String?

    public init(
        targetHash: String, strategy: String, success: Bool, durationMs: Double, confidence: Double? = nil,
        screenStateHash: String? = nil, candidates: Int? = nil, errorType: String? = nil,
        executionID: String? = nil, workflowID: String? = nil
    ) {
        self.targetHash = targetHash
        self.strategy = strategy
        self.success = success
        self.durationMs = durationMs
        self.confidence = confidence
        self.screenStateHash = screenStateHash
        self.candidates = candidates
        self.errorType = errorType
        self.executionID = executionID
        self.workflowID = workflowID
    }
}

/// Something went wrong in the executor or a component it uses.
public struct ErrorEvent: Sendable, Hashable {
    public var errorType: String
    public var message: String
    /// `ocr`, `ui_detection`, `vlm`, `executor`, … — rules match on it.
    public var component: String
    public var severity: Severity
    public var context: [String: String]
    public var executionID: String?
    public var workflowID: String?

    public init(
        errorType: String, message: String, component: String, severity: Severity,
        context: [String: String] = [:], executionID: String? = nil, workflowID: String? = nil
    ) {
        self.errorType = errorType
        self.message = message
        self.component = component
        self.severity = severity
        self.context = context
        self.executionID = executionID
        self.workflowID = workflowID
    }
}

/// One GPU as `nvidia-smi` reports it.
public struct GPUSample: Sendable, Hashable {
    public var index: Int
    public var name: String
    public var utilizationPercent: Double?
    public var memoryUsedBytes: UInt64?
    public var memoryTotalBytes: UInt64?

    public init(
        index: Int, name: String, utilizationPercent: Double? = nil, memoryUsedBytes: UInt64? = nil,
        memoryTotalBytes: UInt64? = nil
    ) {
        self.index = index
        self.name = name
        self.utilizationPercent = utilizationPercent
        self.memoryUsedBytes = memoryUsedBytes
        self.memoryTotalBytes = memoryTotalBytes
    }
}

/// A periodic sample of the PC's resources, taken by the agent.
public struct ResourceSample: Sendable, Hashable {
    /// Whole-machine CPU use, 0…100.
    public var cpuPercent: Double
    public var memoryUsedBytes: UInt64
    public var memoryTotalBytes: UInt64
    /// Free space on the agent's data directory's file system.
    public var diskFreeBytes: UInt64
    /// Empty when the PC has no GPU the agent can read.
    public var gpus: [GPUSample]
    /// Whether the executor process runs; nil when the agent is not told how to check.
    public var executorAlive: Bool?
    /// Size of the executor's cache folder, when one is configured.
    public var cacheBytes: UInt64?

    public init(
        cpuPercent: Double, memoryUsedBytes: UInt64, memoryTotalBytes: UInt64, diskFreeBytes: UInt64,
        gpus: [GPUSample] = [], executorAlive: Bool? = nil, cacheBytes: UInt64? = nil
    ) {
        self.cpuPercent = cpuPercent
        self.memoryUsedBytes = memoryUsedBytes
        self.memoryTotalBytes = memoryTotalBytes
        self.diskFreeBytes = diskFreeBytes
        self.gpus = gpus
        self.executorAlive = executorAlive
        self.cacheBytes = cacheBytes
    }
}

/// Facts about the machine and its software, sent at start and on change.
/// The collector hashes them with ``EnvironmentHash``.
public struct EnvironmentFacts: Sendable, Hashable {
    public var facts: [String: String]

    public init(facts: [String: String]) {
        self.facts = facts
    }
}

/// A sample for anything the other kinds do not cover.
public struct MetricSample: Sendable, Hashable {
    public var name: String
    public var kind: MetricKind
    public var value: Double
    public var labels: [String: String]

    public init(name: String, kind: MetricKind, value: Double, labels: [String: String] = [:]) {
        self.name = name
        self.kind = kind
        self.value = value
        self.labels = labels
    }
}

/// The result of a fleet command, reported by the agent that ran (or refused) it.
public struct CommandResult: Sendable, Hashable {
    public var commandID: String
    public var action: String
    public var status: CommandStatus
    public var exitCode: Int?
    /// The last bytes of the action's output, or its report.
    public var outputTail: String?
    public var durationMs: Double
    /// Why it failed or was refused.
    public var reason: String?

    public init(
        commandID: String, action: String, status: CommandStatus, exitCode: Int? = nil, outputTail: String? = nil,
        durationMs: Double, reason: String? = nil
    ) {
        self.commandID = commandID
        self.action = action
        self.status = status
        self.exitCode = exitCode
        self.outputTail = outputTail
        self.durationMs = durationMs
        self.reason = reason
    }
}

/// The agent's own delivery state: how much it still holds and what it had
/// to give up. Counts are totals since the WAL epoch began.
public struct AgentStatus: Sendable, Hashable {
    public var walBacklogEvents: UInt64
    public var walBacklogBytes: UInt64
    /// Events dropped, oldest first, because the WAL reached its byte cap.
    public var droppedEvents: UInt64
    /// Events found corrupt when the WAL was scanned at start.
    public var lostEvents: UInt64
    public var lastError: String?

    public init(
        walBacklogEvents: UInt64, walBacklogBytes: UInt64, droppedEvents: UInt64, lostEvents: UInt64,
        lastError: String? = nil
    ) {
        self.walBacklogEvents = walBacklogEvents
        self.walBacklogBytes = walBacklogBytes
        self.droppedEvents = droppedEvents
        self.lostEvents = lostEvents
        self.lastError = lastError
    }
}

// MARK: - JSON form (snake_case keys; see Event+JSON.swift)

extension ExecutionStarted: Codable {
    enum CodingKeys: String, CodingKey {
        case executionID = "execution_id"
        case workflowID = "workflow_id"
        case totalSteps = "total_steps"
    }
}

extension ExecutionFinished: Codable {
    enum CodingKeys: String, CodingKey {
        case executionID = "execution_id"
        case workflowID = "workflow_id"
        case status
        case totalSteps = "total_steps"
        case stepsCompleted = "steps_completed"
        case stepsFailed = "steps_failed"
        case durationMs = "duration_ms"
        case errorMessage = "error_message"
    }
}

extension StepFinished: Codable {
    enum CodingKeys: String, CodingKey {
        case executionID = "execution_id"
        case workflowID = "workflow_id"
        case nodeID = "node_id"
        case stepNumber = "step_number"
        case actionType = "action_type"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case success, error
        case ocrMs = "ocr_ms"
        case uiMs = "ui_ms"
        case analyzeMs = "analyze_ms"
        case totalMs = "total_ms"
        case cacheHit = "cache_hit"
        case degraded
    }

    public init(from decoder: any Decoder) throws {
        try self.init(from: decoder, eventTime: .now())
    }

    /// `finished_at` defaults to the event's time and `started_at` to
    /// `finished_at - total_ms`; `cache_hit` and `degraded` default to false.
    init(from decoder: any Decoder, eventTime: Timestamp) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        executionID = try c.decode(String.self, forKey: .executionID)
        workflowID = try c.decode(String.self, forKey: .workflowID)
        nodeID = try c.decode(String.self, forKey: .nodeID)
        stepNumber = try c.decode(Int.self, forKey: .stepNumber)
        actionType = try c.decode(String.self, forKey: .actionType)
        success = try c.decode(Bool.self, forKey: .success)
        error = try c.decodeIfPresent(String.self, forKey: .error)
        ocrMs = try c.decodeIfPresent(Double.self, forKey: .ocrMs)
        uiMs = try c.decodeIfPresent(Double.self, forKey: .uiMs)
        analyzeMs = try c.decodeIfPresent(Double.self, forKey: .analyzeMs)
        totalMs = try c.decode(Double.self, forKey: .totalMs)
        cacheHit = try c.decodeIfPresent(Bool.self, forKey: .cacheHit) ?? false
        degraded = try c.decodeIfPresent(Bool.self, forKey: .degraded) ?? false
        finishedAt = try c.decodeIfPresent(Timestamp.self, forKey: .finishedAt) ?? eventTime
        startedAt = try c.decodeIfPresent(Timestamp.self, forKey: .startedAt) ?? Self.defaultStart(finishedAt: finishedAt, totalMs: totalMs)
    }

    /// `started_at` when the JSON has none: `finished_at - total_ms` (an out-of-range duration,
    /// which validation refuses anyway, counts as 0).
    static func defaultStart(finishedAt: Timestamp, totalMs: Double) -> Timestamp {
        let micros = totalMs.isFinite && totalMs >= 0 && totalMs <= EventLimits.maxDurationMs ? Int64(totalMs * 1000) : 0
        return Timestamp(microsecondsSinceEpoch: finishedAt.microsecondsSinceEpoch &- micros)
    }
}

extension RecoveryAttempted: Codable {
    enum CodingKeys: String, CodingKey {
        case executionID = "execution_id"
        case workflowID = "workflow_id"
        case nodeID = "node_id"
        case strategy, success
        case durationMs = "duration_ms"
        case commandID = "command_id"
    }
}

extension Resolution: Codable {
    enum CodingKeys: String, CodingKey {
        case targetHash = "target_hash"
        case strategy, success
        case durationMs = "duration_ms"
        case confidence
        case screenStateHash = "screen_state_hash"
        case candidates
        case errorType = "error_type"
        case executionID = "execution_id"
        case workflowID = "workflow_id"
    }
}

extension ErrorEvent: Codable {
    enum CodingKeys: String, CodingKey {
        case errorType = "error_type"
        case message, component, severity, context
        case executionID = "execution_id"
        case workflowID = "workflow_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        errorType = try c.decode(String.self, forKey: .errorType)
        message = try c.decode(String.self, forKey: .message)
        component = try c.decode(String.self, forKey: .component)
        severity = try c.decode(Severity.self, forKey: .severity)
        context = try c.decodeIfPresent([String: String].self, forKey: .context) ?? [:]
        executionID = try c.decodeIfPresent(String.self, forKey: .executionID)
        workflowID = try c.decodeIfPresent(String.self, forKey: .workflowID)
    }
}

extension GPUSample: Codable {
    enum CodingKeys: String, CodingKey {
        case index, name
        case utilizationPercent = "utilization_percent"
        case memoryUsedBytes = "memory_used_bytes"
        case memoryTotalBytes = "memory_total_bytes"
    }
}

extension ResourceSample: Codable {
    enum CodingKeys: String, CodingKey {
        case cpuPercent = "cpu_percent"
        case memoryUsedBytes = "memory_used_bytes"
        case memoryTotalBytes = "memory_total_bytes"
        case diskFreeBytes = "disk_free_bytes"
        case gpus
        case executorAlive = "executor_alive"
        case cacheBytes = "cache_bytes"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cpuPercent = try c.decode(Double.self, forKey: .cpuPercent)
        memoryUsedBytes = try c.decode(UInt64.self, forKey: .memoryUsedBytes)
        memoryTotalBytes = try c.decode(UInt64.self, forKey: .memoryTotalBytes)
        diskFreeBytes = try c.decode(UInt64.self, forKey: .diskFreeBytes)
        gpus = try c.decodeIfPresent([GPUSample].self, forKey: .gpus) ?? []
        executorAlive = try c.decodeIfPresent(Bool.self, forKey: .executorAlive)
        cacheBytes = try c.decodeIfPresent(UInt64.self, forKey: .cacheBytes)
    }
}

extension EnvironmentFacts: Codable {
    enum CodingKeys: String, CodingKey {
        case facts
    }
}

extension MetricSample: Codable {
    enum CodingKeys: String, CodingKey {
        case name, kind = "metric_kind", value, labels
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decode(MetricKind.self, forKey: .kind)
        value = try c.decode(Double.self, forKey: .value)
        labels = try c.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
    }
}

extension CommandResult: Codable {
    enum CodingKeys: String, CodingKey {
        case commandID = "command_id"
        case action, status
        case exitCode = "exit_code"
        case outputTail = "output_tail"
        case durationMs = "duration_ms"
        case reason
    }
}

extension AgentStatus: Codable {
    enum CodingKeys: String, CodingKey {
        case walBacklogEvents = "wal_backlog_events"
        case walBacklogBytes = "wal_backlog_bytes"
        case droppedEvents = "dropped_events"
        case lostEvents = "lost_events"
        case lastError = "last_error"
    }
}
