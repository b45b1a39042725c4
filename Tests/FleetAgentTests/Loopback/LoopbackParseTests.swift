import FleetCore
import Foundation
import NIOCore
import Testing

@testable import FleetAgent

@Suite("Loopback body parsing and answer")
struct LoopbackParseTests {
    static let step = #"{"kind":"step_finished","execution_id":"e","workflow_id":"w","node_id":"n","step_number":1,"action_type":"click","success":true,"total_ms":1,"ts":"2026-03-02T08:00:00Z"}"#

    @Test("lines split on LF with an optional CR; blank and whitespace-only lines skipped but counted; no final newline needed")
    func lines() {
        let body = Self.step + "\r\n\n  \t\n{\"kind\":\"nope\"}\n" + Self.step + "\n\n" + "not json\r\n" + Self.step
        let (events, errors) = LoopbackServer.parse(ByteBuffer(string: body))
        #expect(events.count == 3)
        #expect(errors.map(\.line) == [4, 7])
        #expect(errors.first?.error.hasPrefix("kind:") == true, "\(errors)")
        #expect(LoopbackServer.parse(ByteBuffer(string: "")).events.isEmpty)
        #expect(LoopbackServer.parse(ByteBuffer(string: "\n\n")).errors.isEmpty)
        #expect(LoopbackServer.parse(ByteBuffer(string: Self.step + "\r")).events.count == 1)
    }

    @Test("the hand-written answer is JSONEncoder's, byte for byte; with bad lines JSONEncoder writes it")
    func answer() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for (accepted, first) in [(1, UInt64(1)), (200, 4_001), (100_000, UInt64.max - 100_000)] {
            let answer = LoopbackServer.Accepted(accepted: accepted, rejected: 0, firstSeq: first, lastSeq: first + UInt64(accepted) - 1, errors: [])
            #expect(answer.plainJSON == String(decoding: try encoder.encode(answer), as: UTF8.self))
        }
        let withErrors = LoopbackServer.Accepted(
            accepted: 1, rejected: 1, firstSeq: 1, lastSeq: 1, errors: [.init(line: 2, error: "kind: expected \"a\"")])
        #expect(withErrors.plainJSON == nil)
        #expect(LoopbackServer.Accepted(accepted: 0, rejected: 0, firstSeq: nil, lastSeq: nil, errors: []).plainJSON == nil)
    }
}
