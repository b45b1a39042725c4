import FleetCore
import FleetTestSupport
import Testing

@Suite("Event round trips")
struct EventRoundTripTests {
    @Test("every kind survives JSON", arguments: EventKind.allCases)
    func json(kind: EventKind) throws {
        var gen = EventGenerator(seed: 0xF1EE7 &+ UInt64(kind.code))
        for _ in 0..<300 {
            let event = gen.event(kind)
            try event.validate()
            let bytes = EventJSON.encode(event)
            let decoded = try EventJSON.decode(bytes)
            #expect(decoded == event, "\(String(decoding: bytes, as: UTF8.self))")
        }
    }

    @Test("every kind survives the binary form", arguments: EventKind.allCases)
    func binary(kind: EventKind) throws {
        var gen = EventGenerator(seed: 0xB1_0000 &+ UInt64(kind.code))
        for _ in 0..<300 {
            let event = gen.event(kind)
            let batch = Batch(agentID: "pc-1", epoch: WALEpoch(rawValue: 42), records: [.init(sequence: 7, event: event)])
            let decoded = try BatchFrame.decode(try BatchFrame.encode(batch))
            #expect(decoded == batch)
        }
    }

    @Test("mixed batches survive compression")
    func compressedBatches() throws {
        var gen = EventGenerator(seed: 99)
        for n in [1, 2, 17, 500] {
            let batch = gen.batch(count: n)
            let wire = try BatchFrame.encodeCompressed(batch)
            #expect(try BatchFrame.decodeCompressed(wire) == batch)
        }
    }

    @Test("the JSON form is flat snake_case with kind and ts")
    func jsonShape() throws {
        let event = Event(
            timestamp: Timestamp(microsecondsSinceEpoch: 1_795_434_530_123_456),
            .stepFinished(
                StepFinished(
                    executionID: "ex-1", workflowID: "wf", nodeID: "n1", stepNumber: 3, actionType: "click",
                    startedAt: Timestamp(microsecondsSinceEpoch: 1_795_434_530_000_000),
                    finishedAt: Timestamp(microsecondsSinceEpoch: 1_795_434_530_123_456), success: true,
                    ocrMs: 12.5, totalMs: 123.456, cacheHit: true)))
        let text = String(decoding: EventJSON.encode(event), as: UTF8.self)
        #expect(
            text
                == #"{"action_type":"click","cache_hit":true,"degraded":false,"execution_id":"ex-1","finished_at":"2026-11-23T11:48:50.123456Z","kind":"step_finished","node_id":"n1","ocr_ms":12.5,"started_at":"2026-11-23T11:48:50.000000Z","step_number":3,"success":true,"total_ms":123.456,"ts":"2026-11-23T11:48:50.123456Z","workflow_id":"wf"}"#
        )
    }

    @Test("an executor may leave out ts, started_at, finished_at and the booleans")
    func jsonDefaults() throws {
        let line = #"{"kind":"step_finished","execution_id":"e","workflow_id":"w","node_id":"n","step_number":1,"action_type":"click","success":true,"total_ms":250}"#
        let event = try EventJSON.decode(Array(line.utf8))
        guard case .stepFinished(let step) = event.payload else {
            Issue.record("wrong kind")
            return
        }
        #expect(step.finishedAt == event.timestamp)
        #expect(step.finishedAt.microsecondsSinceEpoch - step.startedAt.microsecondsSinceEpoch == 250_000)
        #expect(!step.cacheHit && !step.degraded)
    }

    @Test("sequenced events carry agent_id, epoch and seq in JSON")
    func sequencedJSON() throws {
        let event = SequencedEvent(
            agentID: "pc-9", epoch: WALEpoch(rawValue: 0xABC), sequence: 12,
            event: Event(timestamp: Timestamp(microsecondsSinceEpoch: 0), .environment(EnvironmentFacts(facts: ["os": "Linux"]))))
        let text = String(decoding: EventJSON.encode(event), as: UTF8.self)
        #expect(text.contains(#""agent_id":"pc-9""#))
        #expect(text.contains(#""epoch":"0000000000000abc""#))
        #expect(text.contains(#""seq":12"#))
    }
}
