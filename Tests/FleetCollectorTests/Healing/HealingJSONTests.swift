@testable import FleetCollector
import FleetCore
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The admin API's JSON for alerts and the rules' audit trail: unknown values are `null`, never
/// left out, and times are RFC 3339 (docs/API.md).
@Suite("Healing JSON")
struct HealingJSONTests {
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test("an alert without agent or start time has both as null")
    func alert() throws {
        let bare = Alert(rule: "r", target: "t", agentID: nil, since: nil, message: "m", escalated: false)
        #expect(try Self.json(bare) == #"{"agent_id":null,"escalated":false,"message":"m","rule":"r","since":null,"target":"t"}"#)
        let since = Timestamp(microsecondsSinceEpoch: 1_795_000_000_000_000)
        let full = Alert(rule: "r", target: "t", agentID: "pc-1", since: since, message: "m", escalated: true)
        #expect(since.rfc3339.hasPrefix("2026-11-18T11:06:40"))
        #expect(
            try Self.json(full)
                == #"{"agent_id":"pc-1","escalated":true,"message":"m","rule":"r","since":""# + since.rfc3339 + #"","target":"t"}"#)
    }

    @Test("a rule event without value or command has both as null")
    func ruleEvent() throws {
        let at = Timestamp(microsecondsSinceEpoch: 1_795_000_000_000_000)
        let event = RuleEvent(at: at, rule: "r", target: "t", agentID: nil, kind: "alert", value: nil, detail: "d", commandID: nil)
        #expect(
            try Self.json(event)
                == #"{"agent_id":null,"at":""# + at.rfc3339
                + #"","command_id":null,"detail":"d","kind":"alert","rule":"r","target":"t","value":null}"#)
    }
}
