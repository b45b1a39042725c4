import FleetTestSupport
import AsyncHTTPClient
import FleetCore
import FleetPKI
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@Suite("fleet-collector as a real process")
struct CollectorProcessTests {
    /// A collector.toml on 127.0.0.1 port 0 with the PKI's files; `extra` TOML is appended (later tables and keys).
    static func writeConfig(_ dir: String, pki: PKIDirectory, admin: String = "", extra: String = "") throws -> String {
        let path = dir + "/collector.toml"
        try """
            [server]
            listen = "127.0.0.1:0"
            ca_file = "\(pki.caCertificate)"
            cert_file = "\(pki.collectorCertificate)"
            key_file = "\(pki.collectorKey)"
            [admin]
            listen = "127.0.0.1:0"
            \(admin)
            [ingest]
            agent_events_per_second = 0
            [store]
            path = "\(dir)/fleet.sqlite"
            \(extra)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a bad config is one line naming the key, exit 2")
    func badConfig() throws {
        let dir = temporaryDirectory()
        try "[ingest]\nmax_compressed_bytes = \"lots\"\n".write(toFile: dir + "/bad.toml", atomically: true, encoding: .utf8)
        let (status, stderr) = try CollectorProcess.run(["run", "--config", dir + "/bad.toml"])
        #expect(status == 2)
        #expect(stderr.split(separator: "\n").count == 1)
        #expect(stderr.contains("ingest.max_compressed_bytes"))
        let (missing, text) = try CollectorProcess.run(["run", "--config", dir + "/absent.toml"])
        #expect(missing == 2)
        #expect(text.contains("cannot read"))
        // The shipped example is valid.
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("collector/collector.toml").path
        #expect(try CollectorProcess.run(["check-config", "--config", example]).0 == 0)
    }

    @Test("SIGKILL during ingest loses no acknowledged event and doubles nothing after retries; SIGTERM exits 0")
    func killDuringIngest() async throws {
        let dir = temporaryDirectory("fleet-kill")
        let pki = PKIDirectory(path: dir + "/pki")
        try pki.initialize()
        let agents = ["pc-1", "pc-2", "pc-3", "pc-4"]
        for agent in agents { try pki.issueAgent(agent) }
        let config = try Self.writeConfig(dir, pki: pki)

        var collector = try CollectorProcess(arguments: ["run", "--config", config], logPath: dir + "/log-1.txt")
        let port = Locked(try await collector.port(marker: "ingest listening"))
        let batchesPerAgent = 40
        let acked = Locked<[String: Set<UInt64>]>([:])

        // Each agent resends every batch until it is acknowledged, as a real agent does.
        let senders = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for agent in agents {
                    group.addTask {
                        let client = try TestCollector.client(
                            ca: pki.caCertificate, certificate: pki.agentCertificate(agent), key: pki.agentKey(agent))
                        for b in 0..<batchesPerAgent {
                            let lo = UInt64(b * 100 + 1)
                            let batch = stepBatch(agentID: agent, lo...(lo + 99), execution: "\(agent)-ex")
                            let body = try BatchFrame.encodeCompressed(batch)
                            var done = false
                            var attempts = 0
                            while !done {
                                attempts += 1
                                guard attempts < 400 else { throw ProcessFailure("\(agent) batch \(b) never acknowledged") }
                                var request = HTTPClientRequest(url: "https://127.0.0.1:\(port.withLock { $0 })/v1/batches")
                                request.method = .POST
                                request.headers.add(name: "Content-Encoding", value: "zstd")
                                request.body = .bytes(body)
                                if let response = try? await client.execute(request, timeout: .seconds(5)), response.status == .ok {
                                    _ = try? await response.body.collect(upTo: 1 << 20)
                                    acked.withLock { $0[agent, default: []].formUnion(batch.records.map(\.sequence)) }
                                    done = true
                                } else {
                                    try await Task.sleep(for: .milliseconds(50))
                                }
                            }
                        }
                        try await client.shutdown()
                    }
                }
                try await group.waitForAll()
            }
        }

        // Kill it twice mid-stream, restarting each time on the same database.
        for round in 2...3 {
            while acked.withLock({ $0.values.reduce(0) { $0 + $1.count } }) < (round - 1) * 4_000 {
                try await Task.sleep(for: .milliseconds(20))
            }
            collector.kill(SIGKILL)
            _ = collector.wait()
            collector = try CollectorProcess(arguments: ["run", "--config", config], logPath: dir + "/log-\(round).txt")
            let newPort = try await collector.port(marker: "ingest listening")
            port.withLock { $0 = newPort }
        }
        try await senders.value

        collector.kill(SIGTERM)
        #expect(collector.wait() == 0, "graceful exit: \(collector.log)")

        let queue = try DatabaseQueue(path: dir + "/fleet.sqlite")
        for agent in agents {
            let (total, distinct) = try await queue.read { db in
                (
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM steps WHERE agent_id = ?", arguments: [agent]) ?? -1,
                    try Int.fetchOne(db, sql: "SELECT count(DISTINCT node_id) FROM steps WHERE agent_id = ?", arguments: [agent]) ?? -1
                )
            }
            #expect(acked.withLock { $0[agent]?.count } == batchesPerAgent * 100)
            #expect(total == batchesPerAgent * 100, "\(agent): stored \(total)")
            #expect(distinct == total, "\(agent): duplicates")
            let steps = try await queue.read { db in
                try Int.fetchOne(db, sql: "SELECT steps_seen FROM executions WHERE agent_id = ?", arguments: [agent]) ?? -1
            }
            #expect(steps == batchesPerAgent * 100, "\(agent): execution step count \(steps)")
        }
    }
}

/// A value shared between tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
}
