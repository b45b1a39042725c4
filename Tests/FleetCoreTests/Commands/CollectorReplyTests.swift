import FleetCore
import Foundation
import Testing

@Suite("Collector reply read by the agent")
struct CollectorReplyTests {
    static let example = #"""
        {"accepted":998,"acked_through":1044,"agent_id":"pc-017","duplicates":2,"epoch":"0123456789abcdef",
         "first_seq":45,"highest_seq":1044,"last_seq":1044,
         "commands":[{"action":"set_flags","args":{"degraded":true},"deadline":"2026-11-23T15:20:00Z","id":"cmd-3f9a0c1b2d4e5f60718293a4"}]}
        """#

    @Test("docs/API.md's acknowledgement: acked_through and the commands JSONDecoder reads")
    func example() throws {
        let reply = CollectorReply(Self.example.utf8)
        #expect(reply.ackedThrough == 1044)
        let expected = try JSONDecoder().decode(CommandDelivery.self, from: Data(Self.example.utf8)).commands
        #expect(expected.count == 1)
        #expect(reply.commands == expected)
    }

    @Test("no commands, integral numbers, and answers that are not what the agent expects")
    func edges() {
        #expect(CollectorReply(#"{"acked_through":7,"commands":[]}"#.utf8) == CollectorReply(#"{"commands":[],"acked_through":7.0}"#.utf8))
        #expect(CollectorReply(#"{"acked_through":7,"commands":[]}"#.utf8).ackedThrough == 7)
        #expect(CollectorReply(#"{"commands":[]}"#.utf8).ackedThrough == nil)
        #expect(CollectorReply(#"{"acked_through":-1}"#.utf8).ackedThrough == nil)
        #expect(CollectorReply(#"{"acked_through":"7"}"#.utf8).ackedThrough == nil)
        #expect(CollectorReply(#"{"acked_through":1,"acked_through":9}"#.utf8).ackedThrough == 9)
        #expect(CollectorReply("not json".utf8) == CollectorReply(commands: []))
        #expect(CollectorReply("[1]".utf8).ackedThrough == nil)
        // A malformed command: none is taken (the collector delivers again), the acknowledgement still counts.
        let bad = CollectorReply(#"{"acked_through":3,"commands":[{"action":"set_flags"}]}"#.utf8)
        #expect(bad.ackedThrough == 3 && bad.commands.isEmpty)
    }
}
