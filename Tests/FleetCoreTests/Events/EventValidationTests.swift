import FleetCore
import Testing

@Suite("Event validation")
struct EventValidationTests: EventJSONProbe {
    @Test("a negative duration names its field")
    func negativeDuration() {
        let error = decodeError("{\(step),\"total_ms\":-5}")
        #expect(error?.field == "total_ms")
        #expect(error?.description == "total_ms: negative duration")
        #expect(decodeError("{\(step),\"total_ms\":5,\"ocr_ms\":-1}")?.field == "ocr_ms")
    }

    @Test("an unknown status lists the accepted values")
    func unknownStatus() {
        let error = decodeError(
            #"{"kind":"execution_finished","execution_id":"e","workflow_id":"w","status":"exploded","steps_completed":1,"steps_failed":0}"#)
        #expect(error?.field == "status")
        #expect(error?.description.contains("success, failed, timeout, cancelled") == true)
    }

    @Test("a missing execution_id is named")
    func missingExecutionID() {
        let error = decodeError(#"{"kind":"execution_started","workflow_id":"w"}"#)
        #expect(error?.field == "execution_id")
        #expect(error?.description == "execution_id: required field is missing")
    }

    @Test("over-long strings are refused with the limit")
    func overLong() {
        let long = String(repeating: "x", count: EventLimits.maxIDBytes + 1)
        let error = decodeError(#"{"kind":"execution_started","execution_id":"\#(long)","workflow_id":"w"}"#)
        #expect(error?.field == "execution_id")
        #expect(error?.description == "execution_id: longer than 256 bytes")
        let message = String(repeating: "m", count: EventLimits.maxMessageBytes + 1)
        #expect(
            decodeError(#"{"kind":"error","error_type":"t","message":"\#(message)","component":"ocr","severity":"low"}"#)?.field
                == "message")
    }

    @Test("unknown kinds, wrong types, bad JSON and bad timestamps are typed errors")
    func otherErrors() {
        #expect(decodeError(#"{"kind":"teleport"}"#)?.field == "kind")
        #expect(decodeError(#"{"kind":"execution_started","execution_id":5,"workflow_id":"w"}"#)?.description == "execution_id: expected a string")
        #expect(decodeError("not json")?.field == "(event)")
        #expect(decodeError("[1,2]")?.field == "(event)")
        #expect(decodeError(#"{"kind":"execution_started","execution_id":"e","workflow_id":"w","ts":"yesterday"}"#)?.field == "ts")
        #expect(decodeError(#"{"kind":"resource_sample","cpu_percent":140,"memory_used_bytes":1,"memory_total_bytes":2,"disk_free_bytes":3}"#)?.field == "cpu_percent")
        #expect(decodeError(#"{"kind":"resolution","target_hash":"h","strategy":"s","success":true,"duration_ms":1,"confidence":1.5}"#)?.field == "confidence")
        #expect(decodeError("{\(step),\"total_ms\":5,\"started_at\":\"2026-01-02T00:00:00Z\",\"finished_at\":\"2026-01-01T00:00:00Z\"}")?.field == "finished_at")
        #expect(decodeError(#"{"kind":"execution_started","execution_id":"","workflow_id":"w"}"#)?.description == "execution_id: must not be empty")
    }

    @Test("the binary decoder validates too")
    func binaryValidates() throws {
        let bad = Event(timestamp: Timestamp(microsecondsSinceEpoch: 0), .metric(MetricSample(name: "", kind: .gauge, value: 1)))
        let frame = try BatchFrame.encode(Batch(agentID: "a", epoch: WALEpoch(rawValue: 1), records: [.init(sequence: 1, event: bad)]))
        #expect(throws: WireError.self) { try BatchFrame.decode(frame) }
    }
}
