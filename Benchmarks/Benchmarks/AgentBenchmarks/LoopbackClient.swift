import AsyncHTTPClient
import BenchmarkSupport
import Foundation
import NIOCore
import NIOHTTP1

/// An executor's view of a running agent: its loopback API on 127.0.0.1
/// (`POST /v1/events`, `GET /v1/health`, agent/README.md).
struct LoopbackClient: Sendable {
    let port: Int
    let client: HTTPClient

    /// The fields of `GET /v1/health` the benchmarks read.
    struct Health: Decodable {
        struct Collector: Decodable {
            var collectorReachable: Bool
            var lastError: String?
            var batchesSent: UInt64
            enum CodingKeys: String, CodingKey {
                case collectorReachable = "collector_reachable", lastError = "last_error", batchesSent = "batches_sent"
            }
        }

        var walBacklogEvents: UInt64
        var walBacklogBytes: UInt64
        var droppedEvents: UInt64
        var lostEvents: UInt64
        var collector: Collector
        enum CodingKeys: String, CodingKey {
            case walBacklogEvents = "wal_backlog_events", walBacklogBytes = "wal_backlog_bytes"
            case droppedEvents = "dropped_events", lostEvents = "lost_events", collector
        }
    }

    init(port: Int) {
        self.port = port
        client = HTTPClient(eventLoopGroupProvider: .singleton)
    }

    func shutdown() async {
        try? await client.shutdown()
    }

    func health() async throws -> Health {
        let response = try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/health"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else {
            throw BenchmarkFailure(description: "GET /v1/health answered \(response.status): \(String(buffer: body))")
        }
        return try JSONDecoder().decode(Health.self, from: Data(body.readableBytesView))
    }

    /// Posts an NDJSON body of `lines` events; throws unless every line was accepted.
    func post(_ body: ByteBuffer, lines: Int) async throws {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/events")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-ndjson")
        request.body = .bytes(body)
        let response = try await client.execute(request, timeout: .seconds(30))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status == .ok, text.contains("\"accepted\":\(lines),") else {
            throw BenchmarkFailure(description: "POST /v1/events answered \(response.status): \(text.prefix(500))")
        }
    }

    /// Waits until the agent reports an empty WAL backlog and a reachable collector.
    func waitUntilShipped(timeout: Duration) async throws -> Health {
        let deadline = ContinuousClock.now + timeout
        while true {
            let health = try await health()
            if health.walBacklogEvents == 0 && health.collector.collectorReachable { return health }
            guard ContinuousClock.now < deadline else {
                throw BenchmarkFailure(
                    description: "backlog still \(health.walBacklogEvents) events after \(timeout); last error: \(health.collector.lastError ?? "none")")
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}
