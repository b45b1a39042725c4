// The hot path of `EventJSON.decode`: a `step_finished` line read straight
// from the parsed members, without the `Decoder` layer. At 1,000 events/s on
// the agent's loopback API that layer (containers, coding keys, generic
// metadata lookups) was three quarters of the decoding time, and decoding a
// fifth of the agent's CPU. Steps are nearly all of an executor's events;
// the other kinds stay on the `Codable` path.
//
// It only ever accepts: any field of an unexpected type, a null where a
// value is required, or another kind gives nil, and the `Codable` path then
// decodes the line or refuses it with its usual message.
// `EventJSONDecoderTests` holds both paths to the same events.

extension EventJSON {
    static func stepFinished(_ members: [(key: String, value: JSONValue)]) -> Event? {
        var isStep = false
        var ts: Timestamp?
        var executionID: String?
        var workflowID: String?
        var nodeID: String?
        var stepNumber: Int?
        var actionType: String?
        var success: Bool?
        var error: String?
        var ocrMs: Double?
        var uiMs: Double?
        var analyzeMs: Double?
        var totalMs: Double?
        var cacheHit: Bool?
        var degraded: Bool?
        var finishedAt: Timestamp?
        var startedAt: Timestamp?
        // Members in document order, so a repeated key's last value is the one kept, and a null
        // clears an optional field, as on the `Codable` path.
        for (key, value) in members {
            switch key {
            case "kind":
                guard case .string(let kind) = value else { return nil }
                isStep = kind == EventKind.stepFinished.rawValue
            case "ts": guard optional(value, timestamp, into: &ts) else { return nil }
            case "execution_id": guard required(value, string, into: &executionID) else { return nil }
            case "workflow_id": guard required(value, string, into: &workflowID) else { return nil }
            case "node_id": guard required(value, string, into: &nodeID) else { return nil }
            case "step_number": guard required(value, integer, into: &stepNumber) else { return nil }
            case "action_type": guard required(value, string, into: &actionType) else { return nil }
            case "success": guard required(value, bool, into: &success) else { return nil }
            case "error": guard optional(value, string, into: &error) else { return nil }
            case "ocr_ms": guard optional(value, double, into: &ocrMs) else { return nil }
            case "ui_ms": guard optional(value, double, into: &uiMs) else { return nil }
            case "analyze_ms": guard optional(value, double, into: &analyzeMs) else { return nil }
            case "total_ms": guard required(value, double, into: &totalMs) else { return nil }
            case "cache_hit": guard optional(value, bool, into: &cacheHit) else { return nil }
            case "degraded": guard optional(value, bool, into: &degraded) else { return nil }
            case "finished_at": guard optional(value, timestamp, into: &finishedAt) else { return nil }
            case "started_at": guard optional(value, timestamp, into: &startedAt) else { return nil }
            default: continue
            }
        }
        guard isStep, let executionID, let workflowID, let nodeID, let stepNumber, let actionType, let success, let totalMs else {
            return nil
        }
        let timestamp = ts ?? .now()
        let finished = finishedAt ?? timestamp
        let started =
            startedAt
            ?? {
                let micros = totalMs >= 0 && totalMs <= EventLimits.maxDurationMs ? Int64(totalMs * 1000) : 0
                return Timestamp(microsecondsSinceEpoch: finished.microsecondsSinceEpoch &- micros)
            }()
        let step = StepFinished(
            executionID: executionID, workflowID: workflowID, nodeID: nodeID, stepNumber: stepNumber, actionType: actionType,
            startedAt: started, finishedAt: finished, success: success, error: error, ocrMs: ocrMs, uiMs: uiMs,
            analyzeMs: analyzeMs, totalMs: totalMs, cacheHit: cacheHit ?? false, degraded: degraded ?? false)
        return Event(timestamp: timestamp, .stepFinished(step))
    }

    /// A required field: false for null or a value `convert` refuses.
    private static func required<T>(_ value: JSONValue, _ convert: (JSONValue) -> T?, into field: inout T?) -> Bool {
        field = convert(value)
        return field != nil
    }

    /// An optional field: null is absent; false for a value `convert` refuses.
    private static func optional<T>(_ value: JSONValue, _ convert: (JSONValue) -> T?, into field: inout T?) -> Bool {
        if case .null = value {
            field = nil
            return true
        }
        field = convert(value)
        return field != nil
    }

    private static func string(_ value: JSONValue) -> String? {
        guard case .string(let text) = value else { return nil }
        return text
    }

    private static func bool(_ value: JSONValue) -> Bool? {
        guard case .bool(let flag) = value else { return nil }
        return flag
    }

    private static func double(_ value: JSONValue) -> Double? { try? JSONValueDecoder.double(value, []) }

    private static func integer(_ value: JSONValue) -> Int? { try? JSONValueDecoder.integer(value, []) }

    /// As `Timestamp`'s `Decodable` initialiser: an RFC 3339 string, or finite seconds since the epoch.
    private static func timestamp(_ value: JSONValue) -> Timestamp? {
        switch value {
        case .string(let text): return Timestamp(rfc3339: text)
        case .number:
            guard let seconds = double(value), let ts = Timestamp(secondsSinceEpoch: seconds), ts.isRepresentable else { return nil }
            return ts
        default: return nil
        }
    }
}
