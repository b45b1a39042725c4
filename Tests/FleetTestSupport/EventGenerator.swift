import FleetCore

/// Random but valid events of every kind, with values spread over each field's whole range.
public struct EventGenerator {
    public var rng: SplitMix64

    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func bool() -> Bool { Bool.random(using: &rng) }
    public mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func maybe<T>(_ make: (inout EventGenerator) -> T) -> T? { bool() ? make(&self) : nil }

    /// Strings of 1…max bytes mixing ASCII, accents, CJK, emoji, quotes, backslashes and control characters.
    mutating func string(maxBytes: Int, allowEmpty: Bool = false) -> String {
        let pieces = ["a", "Z", "0", "-", "_", " ", "é", "日本", "🤖", "\"", "\\", "\n", "\t", "\u{0001}", "/", "{}", "ß"]
        var s = ""
        let target = int((allowEmpty ? 0 : 1)...min(maxBytes, 40))
        while s.utf8.count < target {
            let piece = pieces[int(0...(pieces.count - 1))]
            if s.utf8.count + piece.utf8.count > maxBytes { break }
            s += piece
        }
        if s.isEmpty && !allowEmpty { s = "x" }
        return s
    }

    mutating func id() -> String { string(maxBytes: EventLimits.maxIDBytes) }
    mutating func name() -> String { string(maxBytes: EventLimits.maxNameBytes) }
    mutating func message() -> String { string(maxBytes: EventLimits.maxMessageBytes, allowEmpty: true) }

    /// Milliseconds at microsecond resolution, the resolution events carry.
    mutating func duration() -> Double {
        let micros = bool() ? Int64.random(in: 0...5_000_000, using: &rng) : Int64.random(in: 0...Int64(EventLimits.maxDurationMs) * 1000, using: &rng)
        return Double(micros) / 1000
    }

    public mutating func timestamp() -> Timestamp {
        let micros = bool()
            ? Int64.random(in: 1_700_000_000_000_000...1_900_000_000_000_000, using: &rng)
            : Int64.random(in: -62_135_596_800_000_000...253_402_300_799_999_999, using: &rng)
        return Timestamp(microsecondsSinceEpoch: micros)
    }

    mutating func percent() -> Double { Double.random(in: 0...100, using: &rng) }
    mutating func bytes() -> UInt64 { bool() ? UInt64.random(in: 0...(64 << 30), using: &rng) : UInt64.random(in: 0...UInt64.max, using: &rng) }
    mutating func count() -> Int { bool() ? int(0...50) : int(0...EventLimits.maxCount) }

    mutating func map(limit: Int) -> [String: String] {
        var m: [String: String] = [:]
        for _ in 0..<int(0...min(limit, 8)) {
            m[string(maxBytes: EventLimits.maxKeyBytes)] = string(maxBytes: EventLimits.maxValueBytes, allowEmpty: true)
        }
        return m
    }

    public mutating func payload(_ kind: EventKind, at ts: Timestamp) -> EventPayload {
        switch kind {
        case .executionStarted:
            return .executionStarted(ExecutionStarted(executionID: id(), workflowID: id(), totalSteps: maybe { $0.count() }))
        case .executionFinished:
            return .executionFinished(
                ExecutionFinished(
                    executionID: id(), workflowID: id(), status: ExecutionStatus.allCases.randomElement(using: &rng) ?? .success,
                    totalSteps: maybe { $0.count() }, stepsCompleted: count(), stepsFailed: count(),
                    durationMs: maybe { $0.duration() }, errorMessage: maybe { $0.message() }))
        case .stepFinished:
            let start = Int64.random(in: -3_600_000_000...0, using: &rng)
            let end = Int64.random(in: start...(start + 3_600_000_000), using: &rng)
            return .stepFinished(
                StepFinished(
                    executionID: id(), workflowID: id(), nodeID: id(), stepNumber: count(), actionType: name(),
                    startedAt: Timestamp(microsecondsSinceEpoch: ts.microsecondsSinceEpoch + start),
                    finishedAt: Timestamp(microsecondsSinceEpoch: ts.microsecondsSinceEpoch + end),
                    success: bool(), error: maybe { $0.message() }, ocrMs: maybe { $0.duration() },
                    uiMs: maybe { $0.duration() }, analyzeMs: maybe { $0.duration() }, totalMs: duration(),
                    cacheHit: bool(), degraded: bool()))
        case .recoveryAttempted:
            return .recoveryAttempted(
                RecoveryAttempted(
                    executionID: id(), workflowID: id(), nodeID: maybe { $0.id() }, strategy: name(), success: bool(),
                    durationMs: duration(), commandID: maybe { $0.id() }))
        case .resolution:
            return .resolution(
                Resolution(
                    targetHash: id(), strategy: name(), success: bool(), durationMs: duration(),
                    confidence: maybe { Double.random(in: 0...1, using: &$0.rng) }, screenStateHash: maybe { $0.id() },
                    candidates: maybe { $0.count() }, errorType: maybe { $0.name() }, executionID: maybe { $0.id() },
                    workflowID: maybe { $0.id() }))
        case .error:
            return .error(
                ErrorEvent(
                    errorType: name(), message: message(), component: name(),
                    severity: Severity.allCases.randomElement(using: &rng) ?? .low, context: map(limit: EventLimits.maxLabels),
                    executionID: maybe { $0.id() }, workflowID: maybe { $0.id() }))
        case .resourceSample:
            var gpus: [GPUSample] = []
            for i in 0..<int(0...3) {
                let total = bytes()
                gpus.append(
                    GPUSample(
                        index: i, name: name(), utilizationPercent: maybe { $0.percent() },
                        memoryUsedBytes: maybe { UInt64.random(in: 0...total, using: &$0.rng) },
                        memoryTotalBytes: bool() ? total : nil))
            }
            let total = bytes()
            return .resourceSample(
                ResourceSample(
                    cpuPercent: percent(), memoryUsedBytes: UInt64.random(in: 0...total, using: &rng), memoryTotalBytes: total,
                    diskFreeBytes: bytes(), gpus: gpus, executorAlive: maybe { $0.bool() }, cacheBytes: maybe { $0.bytes() }))
        case .environment:
            return .environment(EnvironmentFacts(facts: map(limit: EventLimits.maxFacts)))
        case .metric:
            return .metric(
                MetricSample(
                    name: name(), kind: MetricKind.allCases.randomElement(using: &rng) ?? .gauge,
                    value: bool() ? Double(int(-1000...1000)) : Double.random(in: -1e300...1e300, using: &rng),
                    labels: map(limit: EventLimits.maxLabels)))
        case .commandResult:
            return .commandResult(
                CommandResult(
                    commandID: id(), action: name(), status: CommandStatus.allCases.randomElement(using: &rng) ?? .failed,
                    exitCode: maybe { $0.int(Int(Int32.min)...Int(Int32.max)) },
                    outputTail: maybe { $0.string(maxBytes: EventLimits.maxOutputBytes, allowEmpty: true) },
                    durationMs: duration(), reason: maybe { $0.message() }))
        case .agentStatus:
            return .agentStatus(
                AgentStatus(
                    walBacklogEvents: bytes(), walBacklogBytes: bytes(), droppedEvents: bytes(), lostEvents: bytes(),
                    lastError: maybe { $0.message() }))
        }
    }

    public mutating func event(_ kind: EventKind) -> Event {
        var ts = timestamp()
        if case .stepFinished = kind {
            // Keep started/finished inside years 0001–9999.
            ts = Timestamp(microsecondsSinceEpoch: Int64.random(in: 0...4_000_000_000_000_000, using: &rng))
        }
        return Event(timestamp: ts, payload(kind, at: ts))
    }

    public mutating func event() -> Event {
        event(EventKind.allCases.randomElement(using: &rng) ?? .metric)
    }

    /// A batch of `count` random events with strictly ascending sequences (gaps allowed).
    public mutating func batch(count: Int, agentID: String = "pc-1") -> Batch {
        var seq = UInt64(int(1...1000))
        var records: [Batch.Record] = []
        for _ in 0..<count {
            records.append(Batch.Record(sequence: seq, event: event()))
            seq += UInt64(bool() ? 1 : int(1...5))
        }
        return Batch(agentID: agentID, epoch: WALEpoch(rawValue: rng.next() | 1), records: records)
    }
}
