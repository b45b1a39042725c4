import FleetCore
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The collector process: the agents' mutual-TLS ingest listener, the
/// admin listener, and the group-commit writer, run as one ServiceGroup.
/// SIGTERM (or SIGINT) stops the listeners, commits what is queued, and returns.
public final class Collector: Sendable {
    public let configuration: CollectorConfiguration
    public let store: FleetStore
    public let pipeline: IngestPipeline
    public let summaries: Summaries
    let hub = CommandHub()
    let logger: Logger
    let ingestPort = PortPromise()
    let adminPort = PortPromise()
    private let running = Mutex<ServiceGroup?>(nil)

    public init(configuration: CollectorConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        store = try FleetStore(path: configuration.store.path, synchronousFull: configuration.store.synchronousFull)
        pipeline = IngestPipeline(
            store: store, capacity: configuration.ingest.queueCapacity,
            commitMaxEvents: configuration.ingest.commitMaxEvents, logger: logger)
        summaries = Summaries(store: store, settings: configuration.summaries, rawRetention: configuration.store.rawRetention)
    }

    /// The ports the listeners bound (useful with port 0), once they run.
    public func boundPorts() async -> (ingest: Int, admin: Int) {
        (await ingestPort.value(), await adminPort.value())
    }

    /// Runs until SIGTERM/SIGINT or cancellation.
    public func run() async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: try services().map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        running.withLock { $0 = group }
        defer { running.withLock { $0 = nil } }
        try await group.run()
    }

    /// Starts the same graceful shutdown as SIGTERM: listeners stop, queued batches commit, `run` returns.
    public func shutdown() async {
        await running.withLock { $0 }?.triggerGracefulShutdown()
    }

    /// The services in start order; they shut down in reverse, listeners first, writer last.
    func services() throws -> [any Service] {
        let server = configuration.server
        let admin = configuration.admin

        let ingestRouter = Router(context: CollectorRequestContext.self)
        let delivery = CommandDelivery(store: store, hub: hub, redeliverAfter: configuration.remediation.redeliverAfter)
        IngestController(
            pipeline: pipeline, limits: configuration.ingest,
            rateLimiter: AgentRateLimiter(
                eventsPerSecond: configuration.ingest.agentEventsPerSecond, burst: configuration.ingest.agentBurstEvents),
            commands: delivery, logger: logger
        ).addRoutes(to: ingestRouter)
        delivery.addRoutes(to: ingestRouter)
        let ingestApp = Application(
            router: ingestRouter,
            server: try .tls(.http1(), tlsConfiguration: try tlsConfiguration(requireClientCertificate: true)),
            configuration: .init(address: .hostname(server.host, port: server.port), serverName: "fleet-collector"),
            onServerRunning: { [ingestPort, logger] channel in
                let port = channel.localAddress?.port ?? server.port
                logger.info("ingest listening (mutual TLS)", metadata: ["address": "\(server.host):\(port)"])
                ingestPort.fulfil(port)
            },
            logger: logger)

        let adminRouter = Router(context: CollectorRequestContext.self)
        adminRouter.add(
            middleware: AdminAuthMiddleware(
                tokenDigests: Set(admin.tokenSHA256), openPaths: admin.metricsOpen ? ["/metrics"] : []))
        AdminController(store: store, pipeline: pipeline, summaries: summaries).addRoutes(to: adminRouter)
        HealingController(
            store: store, summaries: summaries, hub: hub, rules: configuration.rules, deadline: configuration.remediation.commandDeadline
        ).addRoutes(to: adminRouter)
        MetricsController(summaries: summaries, pipeline: pipeline).addRoutes(to: adminRouter)
        let adminApp = Application(
            router: adminRouter,
            server: try .tls(.http1(), tlsConfiguration: try tlsConfiguration(requireClientCertificate: false)),
            configuration: .init(address: .hostname(admin.host, port: admin.port), serverName: "fleet-collector"),
            onServerRunning: { [adminPort, logger] channel in
                let port = channel.localAddress?.port ?? admin.port
                logger.info("admin API listening", metadata: ["address": "\(admin.host):\(port)"])
                adminPort.fulfil(port)
            },
            logger: logger)
        let retention = RetentionService(store: store, retention: configuration.store.rawRetention, logger: logger)
        let rules = RuleEngine(
            store: store, rules: configuration.rules, settings: configuration.remediation, hub: hub, logger: logger)
        return [pipeline, retention, rules, ingestApp, adminApp]
    }

    /// TLS from the configured PEM files. The ingest listener requires a
    /// client certificate from the fleet CA; the admin listener verifies one
    /// when offered (the admin certificate) and otherwise wants a bearer token.
    func tlsConfiguration(requireClientCertificate: Bool) throws(ConfigError) -> TLSConfiguration {
        let server = configuration.server
        let file = "collector.toml"
        func load<T>(_ key: String, _ path: String, _ body: () throws -> T) throws(ConfigError) -> T {
            do {
                return try body()
            } catch {
                throw ConfigError(file: file, key: "server.\(key)", message: "cannot load \(path): \(error)")
            }
        }
        let chain = try load("cert_file", server.certFile) { try NIOSSLCertificate.fromPEMFile(server.certFile) }
        let key = try load("key_file", server.keyFile) { try NIOSSLPrivateKey(file: server.keyFile, format: .pem) }
        let roots = try load("ca_file", server.caFile) { try NIOSSLCertificate.fromPEMFile(server.caFile) }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.trustRoots = .certificates(roots)
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = requireClientCertificate ? .noHostnameVerification : .optionalVerification
        // At shutdown, wait at most 1 s for a peer's close_notify (NIOSSL's default 5 s held SIGTERM that long).
        tls.shutdownTimeout = .seconds(1)
        return tls
    }
}
