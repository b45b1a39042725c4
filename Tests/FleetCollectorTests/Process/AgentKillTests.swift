import FleetTestSupport
import AsyncHTTPClient
import FleetCore
import FleetPKI
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import Testing

@Suite("fleet-agent and fleet-collector as real processes")
struct AgentKillTests {
    /// An agent.toml for `id` with fast sync and shipping, loopback on port 0; `extra` TOML is appended.
    static func agentConfig(_ dir: String, pki: PKIDirectory, collectorPort: Int, id: String = "pc-1", extra: String = "") throws -> String {
        let path = dir + "/\(id).toml"
        try """
            agent_id = "\(id)"
            data_dir = "\(dir)/\(id)"
            [collector]
            url = "https://localhost:\(collectorPort)"
            ca_file = "\(pki.caCertificate)"
            cert_file = "\(pki.agentCertificate(id))"
            key_file = "\(pki.agentKey(id))"
            [wal]
            sync_interval = "20ms"
            [shipper]
            max_linger = "50ms"
            backoff_max = "1s"
            [loopback]
            port = 0
            \(extra)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A fresh PKI in `dir` with agent pc-1, and a collector process on it: the PKI, the process, its ingest port.
    static func startCollector(_ dir: String) async throws -> (PKIDirectory, CollectorProcess, Int) {
        let pki = PKIDirectory(path: dir + "/pki")
        try pki.initialize()
        try pki.issueAgent("pc-1")
        let collector = try CollectorProcess(
            arguments: ["run", "--config", try CollectorProcessTests.writeConfig(dir, pki: pki)], logPath: dir + "/collector.log")
        return (pki, collector, try await collector.port(marker: "ingest listening"))
    }

    static func ndjson(_ keys: Range<Int>) -> String {
        keys.map { k in
            #"{"kind":"step_finished","execution_id":"ex-\#(k / 100)","workflow_id":"invoice","node_id":"k-\#(k)","step_number":\#(k % 100),"action_type":"click","success":true,"total_ms":12.5}"#
        }.joined(separator: "\n") + "\n"
    }

    @Test("SIGKILL the agent while it takes events: every event answered 2xx reaches the collector exactly once")
    func killAgent() async throws {
        let dir = temporaryDirectory("fleet-agent-kill")
        let (pki, collector, collectorPort) = try await Self.startCollector(dir)
        let agentConfig = try Self.agentConfig(dir, pki: pki, collectorPort: collectorPort)

        var agent = try CollectorProcess(arguments: ["run", "--config", agentConfig], logPath: dir + "/agent-1.log", product: "fleet-agent")
        let port = Locked(try await agent.port(marker: "loopback API listening"))
        let accepted = Locked<Set<Int>>([])
        let next = Locked(0)
        let stop = Locked(false)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)

        // An executor posting 20 events at a time, as fast as the agent answers.
        let poster = Task {
            while !stop.withLock({ $0 }) {
                let lo = next.withLock { n -> Int in
                    defer { n += 20 }
                    return n
                }
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port.withLock { $0 })/v1/events")
                request.method = .POST
                request.body = .bytes(ByteBuffer(string: Self.ndjson(lo..<(lo + 20))))
                if let response = try? await client.execute(request, timeout: .seconds(5)), response.status == .ok {
                    _ = try? await response.body.collect(upTo: 1 << 20)
                    accepted.withLock { $0.formUnion(lo..<(lo + 20)) }
                } else {
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
        }

        for round in 2...4 {
            let target = (round - 1) * 600
            while accepted.withLock({ $0.count }) < target { try await Task.sleep(for: .milliseconds(10)) }
            agent.kill(SIGKILL)
            _ = agent.wait()
            agent = try CollectorProcess(arguments: ["run", "--config", agentConfig], logPath: dir + "/agent-\(round).log", product: "fleet-agent")
            let newPort = try await agent.port(marker: "loopback API listening")
            port.withLock { $0 = newPort }
        }
        while accepted.withLock({ $0.count }) < 2_400 { try await Task.sleep(for: .milliseconds(10)) }
        stop.withLock { $0 = true }
        _ = await poster.value
        try await client.shutdown()

        // Everything acknowledged to the executor must arrive; wait for the shipper to drain.
        let expected = accepted.withLock { $0 }
        let queue = try DatabaseQueue(path: dir + "/fleet.sqlite")
        var stored: [String] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            stored = try await queue.read { db in try String.fetchAll(db, sql: "SELECT node_id FROM steps WHERE agent_id = 'pc-1'") }
            if expected.isSubset(of: Set(stored.compactMap { Int($0.dropFirst(2)) })) { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        agent.kill(SIGTERM)
        #expect(agent.wait() == 0, "agent graceful exit: \(agent.log)")
        collector.kill(SIGTERM)
        #expect(collector.wait() == 0)
        stored = try await queue.read { db in try String.fetchAll(db, sql: "SELECT node_id FROM steps WHERE agent_id = 'pc-1'") }

        let storedKeys = stored.compactMap { Int($0.dropFirst(2)) }
        #expect(storedKeys.count == Set(storedKeys).count, "duplicates stored")
        let missing = expected.subtracting(storedKeys).sorted()
        #expect(missing.isEmpty, "\(missing.count) acknowledged events missing, first: \(missing.prefix(20))")
        // Events posted but not answered 2xx (in flight at a kill) may or may not be there; nothing else may.
        #expect(Set(storedKeys).isSubset(of: Set(0..<next.withLock { $0 })))
    }

    @Test("SIGTERM with the other side up: the collector ends the agent's long-poll, and each exits 0 in seconds")
    func sigtermWhileConnected() async throws {
        let dir = temporaryDirectory("fleet-sigterm")
        let (pki, collector, collectorPort) = try await Self.startCollector(dir)
        let agent = try CollectorProcess(
            arguments: ["run", "--config", try Self.agentConfig(dir, pki: pki, collectorPort: collectorPort)], logPath: dir + "/agent.log",
            product: "fleet-agent")
        _ = try await agent.port(marker: "loopback API listening")
        // The agent's shipper has sent its start-up events and holds a 30 s command long-poll open.
        let queue = try DatabaseQueue(path: dir + "/fleet.sqlite")
        let deadline = ContinuousClock.now + .seconds(30)
        while try await queue.read({ db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM agents WHERE agent_id = 'pc-1'") ?? 0 }) == 0,
            ContinuousClock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .seconds(1))

        // The long-poll's 30 s used to hold the collector; NIOSSL's 5 s close_notify wait held both.
        let clock = ContinuousClock()
        var start = clock.now
        collector.kill(SIGTERM)
        #expect(collector.wait() == 0, "collector graceful exit: \(collector.log)")
        let collectorExit = clock.now - start
        #expect(collectorExit < .seconds(10), "the collector took \(collectorExit) to stop")

        start = clock.now
        agent.kill(SIGTERM)
        #expect(agent.wait() == 0, "agent graceful exit: \(agent.log)")
        let agentExit = clock.now - start
        // Its last flush to a collector that is gone fails at once; shipper.shutdown_flush_timeout bounds it anyway.
        #expect(agentExit < .seconds(10), "the agent took \(agentExit) to stop")
    }
}

@Suite("fleet-agent configuration errors")
struct AgentConfigProcessTests {
    @Test("a bad agent.toml is one line naming the key, exit 2; the shipped example is valid")
    func badConfig() throws {
        let dir = temporaryDirectory("fleet-agent-config")
        for (toml, key) in [
            ("data_dir = \"/tmp\"\n", "agent_id"),
            ("agent_id = \"pc 1\"\n", "agent_id"),
            ("agent_id = \"pc-1\"\n[collector]\nurl = \"http://x\"\n", "collector.url"),
            ("agent_id = \"pc-1\"\n[wal]\nsync_interval = \"soon\"\n", "wal.sync_interval"),
            ("agent_id = \"pc-1\"\n[shipper]\nmax_event = 5\n", "shipper.max_event"),
        ] {
            try toml.write(toFile: dir + "/agent.toml", atomically: true, encoding: .utf8)
            let (status, stderr) = try CollectorProcess.run(["run", "--config", dir + "/agent.toml"], product: "fleet-agent")
            #expect(status == 2, "\(toml)")
            #expect(stderr.split(separator: "\n").count == 1, "\(stderr)")
            #expect(stderr.contains(key), "\(stderr)")
        }
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("agent/agent.toml").path
        #expect(try CollectorProcess.run(["check-config", "--config", example], product: "fleet-agent").0 == 0)
    }
}
