import AsyncHTTPClient
import FleetAgent
import FleetCollector
import FleetCore
import FleetPKI
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import Testing

@Suite("Agent loopback API")
struct LoopbackTests {
    @Test("NDJSON with good and bad lines: per-line errors, good lines stored; 400 when none is good; 413 over the cap")
    func ndjson() async throws {
        try await TestCollector.with(agents: ["pc-1"]) { test in
            var configuration = ShipperIntegrationTests.agentConfiguration(test.directory, pki: test.pki, port: test.ingestPort)
            configuration.loopback.maxBodyBytes = 64 << 10
            try await ShipperIntegrationTests.withAgent(configuration) { agent in
                let port = await agent.boundLoopbackPort()
                let client = HTTPClient(eventLoopGroupProvider: .singleton)
                func post(_ body: String) async throws -> (Int, [String: Any]) {
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/events")
                    request.method = .POST
                    request.body = .bytes(ByteBuffer(string: body))
                    let response = try await client.execute(request, timeout: .seconds(10))
                    let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                    return (Int(response.status.code), (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:])
                }
                let good = #"{"kind":"execution_started","execution_id":"e1","workflow_id":"invoice"}"#
                let body = [
                    good,
                    "",
                    #"{"kind":"execution_started","workflow_id":"invoice"}"#,
                    "{not json",
                    #"{"kind":"step_finished","execution_id":"e1","workflow_id":"w","node_id":"n","step_number":1,"action_type":"click","success":true,"total_ms":-3}"#,
                    #"{"kind":"metric","name":"queue_depth","metric_kind":"gauge","value":4}"#,
                ].joined(separator: "\n")
                var (status, json) = try await post(body)
                #expect(status == 200)
                #expect(json["accepted"] as? Int == 2)
                let errors = json["errors"] as? [[String: Any]] ?? []
                #expect(errors.map { $0["line"] as? Int } == [3, 4, 5])
                #expect((errors.first?["error"] as? String) == "execution_id: required field is missing")
                #expect((errors.last?["error"] as? String) == "total_ms: negative duration")

                (status, json) = try await post("{\n[]\n")
                #expect(status == 400)
                #expect(json["accepted"] as? Int == 0)
                (status, _) = try await post(String(repeating: good + "\n", count: 2000))
                #expect(status == 413)
                try await client.shutdown()
                // The good lines reach the collector.
                let deadline = ContinuousClock.now + .seconds(20)
                var stored = 0
                while ContinuousClock.now < deadline {
                    stored = try await DatabaseQueue(path: test.collector.configuration.store.path).read { db in
                        try Int.fetchOne(db, sql: "SELECT count(*) FROM executions WHERE execution_id = 'e1'") ?? 0
                    }
                    if stored == 1 { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(stored == 1)
            }
        }
    }
}
