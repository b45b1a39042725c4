import FleetCollector
import FleetPKI
import Foundation
import Logging

/// A real collector run in this process, as the collector tests do
/// (Tests/FleetCollectorTests/Support/TestCollector.swift): both listeners
/// on 127.0.0.1 with ports chosen by the system, the certificates of a
/// fresh PKI, and its own SQLite file, all in one temporary directory.
final class InProcessCollector: Sendable {
    /// The temporary directory holding the PKI and the store.
    let directory: String
    /// The fleet CA, collector, admin and agent certificates.
    let pki: PKIDirectory
    let collector: Collector
    /// The ingest listener's port on 127.0.0.1.
    let ingestPort: Int
    /// `collector.run()`, until `stop()`.
    private let running: Task<Void, any Error>

    /// Creates the PKI with a certificate for each of `agents`, then starts
    /// a collector with `adjust` applied to its configuration.
    init(agents: [String], adjust: (inout CollectorConfiguration) -> Void) async throws {
        let directory = try Self.makeTemporaryDirectory()
        let pki = PKIDirectory(path: directory + "/pki")
        let collector: Collector
        do {
            try pki.initialize()
            for agent in agents { try pki.issueAgent(agent) }

            var configuration = CollectorConfiguration()
            configuration.server.host = "127.0.0.1"
            configuration.server.port = 0
            configuration.server.caFile = pki.caCertificate
            configuration.server.certFile = pki.collectorCertificate
            configuration.server.keyFile = pki.collectorKey
            configuration.admin.host = "127.0.0.1"
            configuration.admin.port = 0
            configuration.store.path = directory + "/fleet.sqlite"
            adjust(&configuration)

            var logger = Logger(label: "collector-benchmark")
            logger.logLevel = .error
            collector = try Collector(configuration: configuration, logger: logger)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        self.directory = directory
        self.pki = pki
        self.collector = collector
        running = Task { try await collector.run() }
        ingestPort = await collector.boundPorts().ingest
    }

    /// Shuts the collector down gracefully (queued batches commit) and waits for it.
    func stop() async throws {
        await collector.shutdown()
        try await running.value
    }

    /// Deletes the temporary directory; call after `stop()`.
    func removeFiles() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A new, empty directory under the system's temporary directory.
    private static func makeTemporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("fleet-collector-benchmark-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
