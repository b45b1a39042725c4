/// The kind tag of an event, as it appears in JSON (`"kind"`) and, as its
/// raw code, in the binary form.
public enum EventKind: String, Sendable, Hashable, CaseIterable, Codable {
    case executionStarted = "execution_started"
    case executionFinished = "execution_finished"
    case stepFinished = "step_finished"
    case recoveryAttempted = "recovery_attempted"
    case resolution
    case error
    case resourceSample = "resource_sample"
    case environment
    case metric
    case commandResult = "command_result"
    case agentStatus = "agent_status"

    /// The one-byte code of the kind in the binary form (docs/PROTOCOL.md).
    public var code: UInt8 {
        switch self {
        case .executionStarted: 1
        case .executionFinished: 2
        case .stepFinished: 3
        case .recoveryAttempted: 4
        case .resolution: 5
        case .error: 6
        case .resourceSample: 7
        case .environment: 8
        case .metric: 9
        case .commandResult: 10
        case .agentStatus: 11
        }
    }

    public init?(code: UInt8) {
        guard let kind = Self.allCases.first(where: { $0.code == code }) else { return nil }
        self = kind
    }
}

/// What an event says, one case per kind.
public enum EventPayload: Sendable, Hashable {
    case executionStarted(ExecutionStarted)
    case executionFinished(ExecutionFinished)
    case stepFinished(StepFinished)
    case recoveryAttempted(RecoveryAttempted)
    case resolution(Resolution)
    case error(ErrorEvent)
    case resourceSample(ResourceSample)
    case environment(EnvironmentFacts)
    case metric(MetricSample)
    case commandResult(CommandResult)
    case agentStatus(AgentStatus)

    public var kind: EventKind {
        switch self {
        case .executionStarted: .executionStarted
        case .executionFinished: .executionFinished
        case .stepFinished: .stepFinished
        case .recoveryAttempted: .recoveryAttempted
        case .resolution: .resolution
        case .error: .error
        case .resourceSample: .resourceSample
        case .environment: .environment
        case .metric: .metric
        case .commandResult: .commandResult
        case .agentStatus: .agentStatus
        }
    }
}

/// An event as an executor records it: when, and what. The agent adds the
/// envelope (agent id, WAL epoch, sequence) when it appends it to its WAL.
public struct Event: Sendable, Hashable {
    public var timestamp: Timestamp
    public var payload: EventPayload

    public init(timestamp: Timestamp = .now(), _ payload: EventPayload) {
        self.timestamp = timestamp
        self.payload = payload
    }

    public var kind: EventKind { payload.kind }
}

/// The random id of one agent WAL's life. A fresh WAL gets a new epoch, so
/// sequence numbers restart without colliding with earlier ones.
public struct WALEpoch: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// A new random epoch, never zero.
    public static func random() -> WALEpoch {
        var generator = SystemRandomNumberGenerator()
        return WALEpoch(rawValue: UInt64.random(in: 1...UInt64.max, using: &generator))
    }

    /// 16 lowercase hex digits, as in JSON and logs.
    public var description: String {
        let hex = String(rawValue, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Parses the 16-hex-digit form.
    public init?(hex: String) {
        guard hex.utf8.count == 16, let value = UInt64(hex, radix: 16) else { return nil }
        self.rawValue = value
    }

    public static func < (lhs: WALEpoch, rhs: WALEpoch) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// An event with the envelope the agent's WAL gives it. (agent id, epoch,
/// sequence) identifies it across the fleet; the collector deduplicates on it.
public struct SequencedEvent: Sendable, Hashable {
    public var agentID: String
    public var epoch: WALEpoch
    /// Monotonic per epoch, assigned at WAL append, starting at 1.
    public var sequence: UInt64
    public var event: Event

    public init(agentID: String, epoch: WALEpoch, sequence: UInt64, event: Event) {
        self.agentID = agentID
        self.epoch = epoch
        self.sequence = sequence
        self.event = event
    }
}
