import AsyncHTTPClient
import FleetCore
import FleetPKI
import FleetTestSupport
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// A real `fleet-collector` process with the given rules, and real
/// `fleet-agent` processes with the given `[actions]`, over mutual TLS on
/// 127.0.0.1. The test drives them through the agents' loopback API and the
/// collector's admin API (bearer token "test").
final class HealingFleet: @unchecked Sendable {
    let dir: String
    let pki: PKIDirectory
    let collector: CollectorProcess
    let ingestPort: Int
    let adminPort: Int
    let http: HTTPClient
    private(set) var agents: [String: CollectorProcess] = [:]
    private(set) var loopbackPorts: [String: Int] = [:]
    private var restarts = 0

    static let adminToken = "test"

    init(agents ids: [String], rules: String, remediation: String = "") async throws {
        dir = temporaryDirectory("fleet-healing")
        pki = PKIDirectory(path: dir + "/pki")
        try pki.initialize()
        for id in ids { try pki.issueAgent(id) }
        let config = try CollectorProcessTests.writeConfig(
            dir, pki: pki, admin: "token_sha256 = [\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"]",
            extra: """
                [remediation]
                interval = "250ms"
                redeliver_after = "2s"
                backoff_initial = "1s"
                \(remediation)
                \(rules)
                """)
        collector = try CollectorProcess(arguments: ["run", "--config", config], logPath: dir + "/collector.log")
        ingestPort = try await collector.port(marker: "ingest listening")
        adminPort = try await collector.port(marker: "admin API listening")
        // Trusts the fleet CA; no client certificate: the admin API is reached with the bearer token.
        http = try TestCollector.client(ca: pki.caCertificate, certificate: nil, key: nil)
    }

    /// Writes the agent's config and starts it; returns its data directory.
    @discardableResult
    func startAgent(_ id: String, actions: String) async throws -> String {
        let config = try AgentKillTests.agentConfig(
            dir, pki: pki, collectorPort: ingestPort, id: id, extra: "[sampler]\nnvidia_smi = \"\"\n" + actions)
        restarts += 1
        let agent = try CollectorProcess(
            arguments: ["run", "--config", config], logPath: dir + "/\(id)-\(restarts).log", product: "fleet-agent")
        agents[id] = agent
        loopbackPorts[id] = try await agent.port(marker: "loopback API listening")
        return dir + "/\(id)"
    }

    func kill(_ id: String, _ signal: Int32 = SIGKILL) {
        agents[id]?.kill(signal)
        _ = agents[id]?.wait()
    }

    /// NDJSON to the agent's loopback API; fails the test run on anything but 200.
    func post(_ id: String, _ lines: [String]) async throws {
        guard let port = loopbackPorts[id] else { throw ProcessFailure("agent \(id) not started") }
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/events")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: lines.joined(separator: "\n") + "\n"))
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status == .ok else { throw ProcessFailure("loopback answered \(response.status): \(body)") }
    }

    static func step(analyzeMs: Double, n: Int) -> String {
        #"{"kind":"step_finished","execution_id":"ex-\#(n / 20)","workflow_id":"invoice","node_id":"n\#(n)","step_number":\#(n % 20 + 1),"action_type":"click","success":true,"analyze_ms":\#(analyzeMs),"total_ms":\#(analyzeMs + 50)}"#
    }

    static func error(component: String) -> String {
        #"{"kind":"error","error_type":"vlm_timeout","message":"UI detection timed out","component":"\#(component)","severity":"high","context":{}}"#
    }

    /// `GET` on the admin API, as JSON.
    func get(_ path: String) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: "https://127.0.0.1:\(adminPort)\(path)")
        request.headers.add(name: "Authorization", value: "Bearer \(Self.adminToken)")
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        guard response.status == .ok else { throw ProcessFailure("GET \(path): \(response.status) \(String(buffer: body))") }
        return (try JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    }

    /// `POST /v1/commands`; returns (status, body as JSON).
    func queue(_ agent: String, _ action: String, args: [String: Any] = [:], deadlineSeconds: Double? = nil) async throws -> (Int, [String: Any]) {
        var request = HTTPClientRequest(url: "https://127.0.0.1:\(adminPort)/v1/commands")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(Self.adminToken)")
        var body: [String: Any] = ["agent_id": agent, "action": action, "args": args]
        if let deadlineSeconds { body["deadline_seconds"] = deadlineSeconds }
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let response = try await http.execute(request, timeout: .seconds(30))
        let text = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), (try? JSONSerialization.jsonObject(with: Data(text.readableBytesView))) as? [String: Any] ?? [:])
    }

    func commands(_ query: String = "") async throws -> [[String: Any]] {
        try await get("/v1/commands?limit=1000" + query)["commands"] as? [[String: Any]] ?? []
    }

    func ruleEvents(_ rule: String) async throws -> [[String: Any]] {
        try await get("/v1/rules/events?limit=1000&rule=\(rule)")["events"] as? [[String: Any]] ?? []
    }

    /// Polls `condition` until it holds or `timeout` passes.
    func eventually(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ProcessFailure("timed out waiting for \(what); collector log:\n\(collector.log.suffix(3000))")
    }

    func shutdown() async throws {
        for id in agents.keys { kill(id, SIGTERM) }
        collector.kill(SIGTERM)
        _ = collector.wait()
        try await http.shutdown()
    }
}
