// The compact binary form of an event's payload (docs/PROTOCOL.md,
// "Payloads"). Each payload starts with a `flags` varint whose bits carry
// booleans and the presence of optional fields, then the fields in a fixed
// order. Durations are varints of microseconds; embedded timestamps are
// zigzag deltas from the event's timestamp; maps are sorted by key.

/// Encodes and decodes event payloads in the binary form shared by the batch
/// frame and the agent's WAL.
public enum EventBinaryCodec {
    /// Appends the payload of `event` (not its kind or timestamp).
    /// The event should be validated: out-of-range numbers are clamped, never trapped on.
    public static func encodePayload(_ event: Event, into w: inout ByteWriter) {
        let ts = event.timestamp
        switch event.payload {
        case .executionStarted(let e):
            w.varint(bits(e.totalSteps != nil))
            w.string(e.executionID)
            w.string(e.workflowID)
            if let n = e.totalSteps { w.count(n) }
        case .executionFinished(let e):
            w.varint(bits(e.totalSteps != nil, e.durationMs != nil, e.errorMessage != nil))
            w.string(e.executionID)
            w.string(e.workflowID)
            w.u8(e.status.binaryCode)
            if let n = e.totalSteps { w.count(n) }
            w.count(e.stepsCompleted)
            w.count(e.stepsFailed)
            if let d = e.durationMs { w.duration(d) }
            if let m = e.errorMessage { w.string(m) }
        case .stepFinished(let e):
            w.varint(
                bits(e.success, e.cacheHit, e.degraded, e.error != nil, e.ocrMs != nil, e.uiMs != nil, e.analyzeMs != nil))
            w.string(e.executionID)
            w.string(e.workflowID)
            w.string(e.nodeID)
            w.count(e.stepNumber)
            w.string(e.actionType)
            w.zigzag(e.startedAt.microsecondsSinceEpoch &- ts.microsecondsSinceEpoch)
            w.zigzag(e.finishedAt.microsecondsSinceEpoch &- ts.microsecondsSinceEpoch)
            w.duration(e.totalMs)
            if let s = e.error { w.string(s) }
            if let d = e.ocrMs { w.duration(d) }
            if let d = e.uiMs { w.duration(d) }
            if let d = e.analyzeMs { w.duration(d) }
        case .recoveryAttempted(let e):
            w.varint(bits(e.success, e.nodeID != nil, e.commandID != nil))
            w.string(e.executionID)
            w.string(e.workflowID)
            w.string(e.strategy)
            w.duration(e.durationMs)
            if let s = e.nodeID { w.string(s) }
            if let s = e.commandID { w.string(s) }
        case .resolution(let e):
            w.varint(
                bits(
                    e.success, e.confidence != nil, e.screenStateHash != nil, e.candidates != nil, e.errorType != nil,
                    e.executionID != nil, e.workflowID != nil))
            w.string(e.targetHash)
            w.string(e.strategy)
            w.duration(e.durationMs)
            if let c = e.confidence { w.f64(c) }
            if let s = e.screenStateHash { w.string(s) }
            if let n = e.candidates { w.count(n) }
            if let s = e.errorType { w.string(s) }
            if let s = e.executionID { w.string(s) }
            if let s = e.workflowID { w.string(s) }
        case .error(let e):
            w.varint(bits(e.executionID != nil, e.workflowID != nil))
            w.string(e.errorType)
            w.string(e.message)
            w.string(e.component)
            w.u8(e.severity.binaryCode)
            w.map(e.context)
            if let s = e.executionID { w.string(s) }
            if let s = e.workflowID { w.string(s) }
        case .resourceSample(let e):
            w.varint(bits(e.executorAlive != nil, e.executorAlive == true, e.cacheBytes != nil))
            w.f64(e.cpuPercent)
            w.varint(e.memoryUsedBytes)
            w.varint(e.memoryTotalBytes)
            w.varint(e.diskFreeBytes)
            w.varint(UInt64(e.gpus.count))
            for gpu in e.gpus {
                w.varint(bits(gpu.utilizationPercent != nil, gpu.memoryUsedBytes != nil, gpu.memoryTotalBytes != nil))
                w.count(gpu.index)
                w.string(gpu.name)
                if let u = gpu.utilizationPercent { w.f64(u) }
                if let b = gpu.memoryUsedBytes { w.varint(b) }
                if let b = gpu.memoryTotalBytes { w.varint(b) }
            }
            if let b = e.cacheBytes { w.varint(b) }
        case .environment(let e):
            w.varint(0)
            w.map(e.facts)
        case .metric(let e):
            w.varint(0)
            w.string(e.name)
            w.u8(e.kind.binaryCode)
            w.f64(e.value)
            w.map(e.labels)
        case .commandResult(let e):
            w.varint(bits(e.exitCode != nil, e.outputTail != nil, e.reason != nil))
            w.string(e.commandID)
            w.string(e.action)
            w.u8(e.status.binaryCode)
            w.duration(e.durationMs)
            if let c = e.exitCode { w.zigzag(Int64(c)) }
            if let s = e.outputTail { w.string(s) }
            if let s = e.reason { w.string(s) }
        case .agentStatus(let e):
            w.varint(bits(e.lastError != nil))
            w.varint(e.walBacklogEvents)
            w.varint(e.walBacklogBytes)
            w.varint(e.droppedEvents)
            w.varint(e.lostEvents)
            if let s = e.lastError { w.string(s) }
        }
    }

    /// Reads one payload of `kind` for an event at `timestamp`. The reader must
    /// be positioned at the payload and limited to it.
    public static func decodePayload(
        kind: EventKind, timestamp: Timestamp, from r: inout ByteReader
    ) throws(WireError) -> EventPayload {
        let id = EventLimits.maxIDBytes
        let name = EventLimits.maxNameBytes
        let msg = EventLimits.maxMessageBytes
        switch kind {
        case .executionStarted:
            let f = try r.flags(count: 1)
            return try .executionStarted(
                ExecutionStarted(
                    executionID: try r.string("execution_id", limit: id),
                    workflowID: try r.string("workflow_id", limit: id),
                    totalSteps: f[0] ? r.count("total_steps", limit: EventLimits.maxCount) : nil))
        case .executionFinished:
            let f = try r.flags(count: 3)
            let executionID = try r.string("execution_id", limit: id)
            let workflowID = try r.string("workflow_id", limit: id)
            let status: ExecutionStatus = try r.enumValue("status")
            let total = try f[0] ? r.count("total_steps", limit: EventLimits.maxCount) : nil
            return try .executionFinished(
                ExecutionFinished(
                    executionID: executionID, workflowID: workflowID, status: status, totalSteps: total,
                    stepsCompleted: try r.count("steps_completed", limit: EventLimits.maxCount),
                    stepsFailed: try r.count("steps_failed", limit: EventLimits.maxCount),
                    durationMs: f[1] ? r.duration("duration_ms") : nil,
                    errorMessage: f[2] ? r.string("error_message", limit: msg) : nil))
        case .stepFinished:
            let f = try r.flags(count: 7)
            let executionID = try r.string("execution_id", limit: id)
            let workflowID = try r.string("workflow_id", limit: id)
            let nodeID = try r.string("node_id", limit: id)
            let stepNumber = try r.count("step_number", limit: EventLimits.maxCount)
            let actionType = try r.string("action_type", limit: name)
            let started = try r.zigzag("started_at")
            let finished = try r.zigzag("finished_at")
            let totalMs = try r.duration("total_ms")
            return try .stepFinished(
                StepFinished(
                    executionID: executionID, workflowID: workflowID, nodeID: nodeID, stepNumber: stepNumber,
                    actionType: actionType,
                    startedAt: Timestamp(microsecondsSinceEpoch: timestamp.microsecondsSinceEpoch &+ started),
                    finishedAt: Timestamp(microsecondsSinceEpoch: timestamp.microsecondsSinceEpoch &+ finished),
                    success: f[0],
                    error: f[3] ? r.string("error", limit: msg) : nil,
                    ocrMs: f[4] ? r.duration("ocr_ms") : nil,
                    uiMs: f[5] ? r.duration("ui_ms") : nil,
                    analyzeMs: f[6] ? r.duration("analyze_ms") : nil,
                    totalMs: totalMs, cacheHit: f[1], degraded: f[2]))
        case .recoveryAttempted:
            let f = try r.flags(count: 3)
            let executionID = try r.string("execution_id", limit: id)
            let workflowID = try r.string("workflow_id", limit: id)
            let strategy = try r.string("strategy", limit: name)
            let duration = try r.duration("duration_ms")
            let nodeID = try f[1] ? r.string("node_id", limit: id) : nil
            return try .recoveryAttempted(
                RecoveryAttempted(
                    executionID: executionID, workflowID: workflowID, nodeID: nodeID, strategy: strategy,
                    success: f[0], durationMs: duration,
                    commandID: f[2] ? r.string("command_id", limit: id) : nil))
        case .resolution:
            let f = try r.flags(count: 7)
            return try .resolution(
                Resolution(
                    targetHash: try r.string("target_hash", limit: id),
                    strategy: try r.string("strategy", limit: name),
                    success: f[0],
                    durationMs: try r.duration("duration_ms"),
                    confidence: f[1] ? r.f64("confidence") : nil,
                    screenStateHash: f[2] ? r.string("screen_state_hash", limit: id) : nil,
                    candidates: f[3] ? r.count("candidates", limit: EventLimits.maxCount) : nil,
                    errorType: f[4] ? r.string("error_type", limit: name) : nil,
                    executionID: f[5] ? r.string("execution_id", limit: id) : nil,
                    workflowID: f[6] ? r.string("workflow_id", limit: id) : nil))
        case .error:
            let f = try r.flags(count: 2)
            return try .error(
                ErrorEvent(
                    errorType: try r.string("error_type", limit: name),
                    message: try r.string("message", limit: msg),
                    component: try r.string("component", limit: name),
                    severity: try r.enumValue("severity"),
                    context: try r.map("context", limit: EventLimits.maxLabels),
                    executionID: f[0] ? r.string("execution_id", limit: id) : nil,
                    workflowID: f[1] ? r.string("workflow_id", limit: id) : nil))
        case .resourceSample:
            let f = try r.flags(count: 3)
            let cpu = try r.f64("cpu_percent")
            let used = try r.varint("memory_used_bytes")
            let total = try r.varint("memory_total_bytes")
            let disk = try r.varint("disk_free_bytes")
            let gpuCount = try r.count("gpus", limit: EventLimits.maxGPUs)
            var gpus: [GPUSample] = []
            gpus.reserveCapacity(gpuCount)
            for i in 0..<gpuCount {
                let g = try r.flags(count: 3)
                try gpus.append(
                    GPUSample(
                        index: try r.count("gpus[\(i)].index", limit: EventLimits.maxCount),
                        name: try r.string("gpus[\(i)].name", limit: name),
                        utilizationPercent: g[0] ? r.f64("gpus[\(i)].utilization_percent") : nil,
                        memoryUsedBytes: g[1] ? r.varint("gpus[\(i)].memory_used_bytes") : nil,
                        memoryTotalBytes: g[2] ? r.varint("gpus[\(i)].memory_total_bytes") : nil))
            }
            return try .resourceSample(
                ResourceSample(
                    cpuPercent: cpu, memoryUsedBytes: used, memoryTotalBytes: total, diskFreeBytes: disk, gpus: gpus,
                    executorAlive: f[0] ? f[1] : nil,
                    cacheBytes: f[2] ? r.varint("cache_bytes") : nil))
        case .environment:
            _ = try r.flags(count: 0)
            return .environment(EnvironmentFacts(facts: try r.map("facts", limit: EventLimits.maxFacts)))
        case .metric:
            _ = try r.flags(count: 0)
            return .metric(
                MetricSample(
                    name: try r.string("name", limit: name),
                    kind: try r.enumValue("metric_kind"),
                    value: try r.f64("value"),
                    labels: try r.map("labels", limit: EventLimits.maxLabels)))
        case .commandResult:
            let f = try r.flags(count: 3)
            let commandID = try r.string("command_id", limit: id)
            let action = try r.string("action", limit: name)
            let status: CommandStatus = try r.enumValue("status")
            let duration = try r.duration("duration_ms")
            var exitCode: Int?
            if f[0] {
                let code = try r.zigzag("exit_code")
                guard let c = Int32(exactly: code) else {
                    throw WireError(.lengthOutOfBounds(field: "exit_code", length: UInt64(bitPattern: code), limit: UInt64(Int32.max)))
                }
                exitCode = Int(c)
            }
            return try .commandResult(
                CommandResult(
                    commandID: commandID, action: action, status: status, exitCode: exitCode,
                    outputTail: f[1] ? r.string("output_tail", limit: EventLimits.maxOutputBytes) : nil,
                    durationMs: duration,
                    reason: f[2] ? r.string("reason", limit: msg) : nil))
        case .agentStatus:
            let f = try r.flags(count: 1)
            return try .agentStatus(
                AgentStatus(
                    walBacklogEvents: try r.varint("wal_backlog_events"),
                    walBacklogBytes: try r.varint("wal_backlog_bytes"),
                    droppedEvents: try r.varint("dropped_events"),
                    lostEvents: try r.varint("lost_events"),
                    lastError: f[0] ? r.string("last_error", limit: msg) : nil))
        }
    }
}

// MARK: - Helpers

/// Packs booleans into a flags word, first argument in bit 0. Fixed arity
/// (not variadic) so the hot encode path allocates no array.
private func bits(
    _ b0: Bool, _ b1: Bool = false, _ b2: Bool = false, _ b3: Bool = false, _ b4: Bool = false,
    _ b5: Bool = false, _ b6: Bool = false
) -> UInt64 {
    var word: UInt64 = b0 ? 1 : 0
    if b1 { word |= 1 << 1 }
    if b2 { word |= 1 << 2 }
    if b3 { word |= 1 << 3 }
    if b4 { word |= 1 << 4 }
    if b5 { word |= 1 << 5 }
    if b6 { word |= 1 << 6 }
    return word
}

/// An enum with a stable one-byte code in the binary form: its position in
/// `allCases`. Cases are only ever appended, never reordered.
protocol BinaryCodedEnum: CaseIterable, Equatable where AllCases == [Self] {}

extension BinaryCodedEnum {
    var binaryCode: UInt8 { UInt8(truncatingIfNeeded: Self.allCases.firstIndex(of: self) ?? 0) }
    init?(binaryCode: UInt8) {
        guard Int(binaryCode) < Self.allCases.count else { return nil }
        self = Self.allCases[Int(binaryCode)]
    }
}

extension ExecutionStatus: BinaryCodedEnum {}
extension Severity: BinaryCodedEnum {}
extension MetricKind: BinaryCodedEnum {}
extension CommandStatus: BinaryCodedEnum {}

extension ByteWriter {
    mutating func count(_ n: Int) { varint(UInt64(clamping: n)) }

    /// Milliseconds as a varint of whole microseconds.
    mutating func duration(_ ms: Double) {
        let micros = (ms * 1000).rounded()
        varint(micros.isFinite && micros > 0 ? UInt64(min(micros, 1.8e19)) : 0)
    }

    /// Entry count, then key/value strings in ascending key order.
    mutating func map(_ m: [String: String]) {
        varint(UInt64(m.count))
        for key in m.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            string(key)
            string(m[key] ?? "")
        }
    }
}

/// Decoded flags word: `flags[i]` is bit i.
struct Flags {
    let word: UInt64
    subscript(_ i: Int) -> Bool { word & (1 << UInt64(i)) != 0 }
}

extension ByteReader {
    /// Reads a flags varint with `count` defined bits; any other bit is an error.
    mutating func flags(count: Int) throws(WireError) -> Flags {
        let word = try varint("flags")
        guard word >> UInt64(count) == 0 else { throw WireError(.reservedBitsSet(field: "flags")) }
        return Flags(word: word)
    }

    mutating func duration(_ field: @autoclosure () -> String) throws(WireError) -> Double {
        let micros = try varint(field())
        let limit = UInt64(EventLimits.maxDurationMs * 1000)
        guard micros <= limit else {
            throw WireError(.lengthOutOfBounds(field: field(), length: micros, limit: limit))
        }
        return Double(micros) / 1000
    }

    mutating func enumValue<E: BinaryCodedEnum>(_ field: String) throws(WireError) -> E {
        let code = try u8(field)
        guard let value = E(binaryCode: code) else { throw WireError(.unknownEnumValue(field: field, code: code)) }
        return value
    }

    mutating func map(_ field: String, limit: Int) throws(WireError) -> [String: String] {
        let n = try count("\(field) count", limit: limit)
        var m: [String: String] = [:]
        m.reserveCapacity(n)
        var previous: String?
        for _ in 0..<n {
            let key = try string("\(field) key", limit: EventLimits.maxKeyBytes)
            if let previous, !previous.utf8.lexicographicallyPrecedes(key.utf8) {
                throw WireError(.unorderedMapKeys(field: field))
            }
            m[key] = try string("\(field)[\"\(key)\"]", limit: EventLimits.maxValueBytes)
            previous = key
        }
        return m
    }
}
