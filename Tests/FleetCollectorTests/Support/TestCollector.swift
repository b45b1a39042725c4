import AsyncHTTPClient
import FleetCollector
import FleetCore
import FleetPKI
import FleetTestSupport
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

import Foundation


/// A real collector on 127.0.0.1 port 0 with real certificates and a real SQLite file, run in-process.
struct TestCollector {
    let directory: String
    let pki: PKIDirectory
    let collector: Collector
    let ingestPort: Int
    let adminPort: Int

    /// Runs `body` against a fresh collector, then shuts it down gracefully.
    static func with<T>(
        agents: [String] = ["pc-1", "pc-2"], adjust: (inout CollectorConfiguration) -> Void = { _ in },
        reusing existing: PKIDirectory? = nil,
        _ body: (TestCollector) async throws -> T
    ) async throws -> T {
        let directory = temporaryDirectory()
        let pki: PKIDirectory
        if let existing {
            pki = existing
        } else {
            pki = PKIDirectory(path: directory + "/pki")
            try pki.initialize()
            for agent in agents { try pki.issueAgent(agent) }
        }
        var configuration = CollectorConfiguration()
        configuration.server.host = "127.0.0.1"
        configuration.server.port = 0
        configuration.server.caFile = pki.caCertificate
        configuration.server.certFile = pki.collectorCertificate
        configuration.server.keyFile = pki.collectorKey
        configuration.admin.host = "127.0.0.1"
        configuration.admin.port = 0
        configuration.admin.tokenSHA256 = ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]  // "test"
        configuration.store.path = directory + "/fleet.sqlite"
        adjust(&configuration)
        var logger = Logger(label: "test-collector")
        logger.logLevel = .warning
        let collector = try Collector(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await collector.run() }
            let ports = await collector.boundPorts()
            let test = TestCollector(
                directory: directory, pki: pki, collector: collector, ingestPort: ports.ingest, adminPort: ports.admin)
            do {
                let result = try await body(test)
                await collector.shutdown()
                try await group.waitForAll()
                return result
            } catch {
                await collector.shutdown()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    /// An HTTPS client presenting `certificate`/`key` (or none) and trusting `ca`.
    static func client(ca: String, certificate: String?, key: String?) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
        if let certificate, let key {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func agentClient(_ id: String) throws -> HTTPClient {
        try Self.client(ca: pki.caCertificate, certificate: pki.agentCertificate(id), key: pki.agentKey(id))
    }

    func adminClient() throws -> HTTPClient {
        try Self.client(ca: pki.caCertificate, certificate: pki.adminCertificate, key: pki.adminKey)
    }

    struct Reply {
        var status: Int
        var body: String
        var headers: [(String, String)]
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }
    }

    func post(_ client: HTTPClient, bytes: [UInt8], encoding: String? = "zstd") async throws -> Reply {
        var request = HTTPClientRequest(url: "https://127.0.0.1:\(ingestPort)/v1/batches")
        request.method = .POST
        if let encoding { request.headers.add(name: "Content-Encoding", value: encoding) }
        request.headers.add(name: "Content-Type", value: "application/vnd.fleet.batch")
        request.body = .bytes(ByteBuffer(bytes: bytes))
        return try await Self.reply(client.execute(request, timeout: .seconds(30)))
    }

    func send(_ client: HTTPClient, _ batch: Batch) async throws -> Reply {
        try await post(client, bytes: try BatchFrame.encodeCompressed(batch))
    }

    func admin(_ client: HTTPClient, _ path: String, token: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: "https://127.0.0.1:\(adminPort)\(path)")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return try await Self.reply(client.execute(request, timeout: .seconds(30)))
    }

    static func reply(_ response: HTTPClientResponse) async throws -> Reply {
        let body = try await response.body.collect(upTo: 16 << 20)
        return Reply(
            status: Int(response.status.code), body: String(buffer: body),
            headers: response.headers.map { ($0.name, $0.value) })
    }
}

/// Deterministic step events for agent `agentID`, sequences `range`.
func stepBatch(agentID: String, epoch: UInt64 = 7, _ range: ClosedRange<UInt64>, execution: String = "ex-1") -> Batch {
    Batch(
        agentID: agentID, epoch: WALEpoch(rawValue: epoch),
        records: range.map { seq in
            let ts = Timestamp(microsecondsSinceEpoch: 1_795_000_000_000_000 + Int64(seq) * 1_000_000)
            return Batch.Record(
                sequence: seq,
                event: Event(
                    timestamp: ts,
                    .stepFinished(
                        StepFinished(
                            executionID: execution, workflowID: "invoice", nodeID: "n\(seq)", stepNumber: Int(seq),
                            actionType: "click", startedAt: ts, finishedAt: ts, success: true, ocrMs: 10,
                            totalMs: Double(seq)))))
        })
}
