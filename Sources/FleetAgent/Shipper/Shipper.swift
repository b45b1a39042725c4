import AsyncHTTPClient
import FleetCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import Synchronization

/// Ships the WAL to the collector: batches of unacknowledged records, zstd
/// compressed once, `POST /v1/batches` over mutual TLS; acknowledged records
/// are released from the WAL, nothing else. While a backlog drains, the
/// newest records go first every other batch, so live data reaches the
/// collector within seconds and the backlog is still delivered in full.
/// Failures back off exponentially with full jitter; 429/503 honour Retry-After.
public final class Shipper: Service, Sendable {
    let agentID: String
    let wal: WriteAheadLog
    let settings: AgentConfiguration.Shipper
    let collectorURL: String
    let client: HTTPClient
    let status: ShipperStatus
    let logger: Logger
    let timeout: Duration
    /// One zstd context for every batch (sends are one at a time).
    let compressor: Mutex<ZstdCompressor>
    /// Receives the commands that ride on acknowledgements.
    let onCommands: @Sendable ([FleetCommand]) -> Void

    public init(
        configuration: AgentConfiguration, wal: WriteAheadLog, status: ShipperStatus, logger: Logger,
        onCommands: @escaping @Sendable ([FleetCommand]) -> Void = { _ in }
    ) throws {
        agentID = configuration.agentID
        self.wal = wal
        self.onCommands = onCommands
        settings = configuration.shipper
        collectorURL = configuration.collector.url + "/v1/batches"
        self.status = status
        self.logger = logger
        timeout = configuration.collector.timeout
        compressor = Mutex(ZstdCompressor(level: configuration.shipper.zstdLevel))
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        // At shutdown a connection waited NIOSSL's default 5 s for the collector's close_notify
        // (the command long-poll's, cancelled mid-request): SIGTERM took over 5 s on an idle agent.
        tls.shutdownTimeout = .seconds(1)
        tls.trustRoots = .certificates(try Self.load("collector.ca_file", configuration.collector.caFile) { try NIOSSLCertificate.fromPEMFile($0) })
        tls.certificateChain = try Self.load("collector.cert_file", configuration.collector.certFile) {
            try NIOSSLCertificate.fromPEMFile($0).map { .certificate($0) }
        }
        tls.privateKey = .privateKey(try Self.load("collector.key_file", configuration.collector.keyFile) { try NIOSSLPrivateKey(file: $0, format: .pem) })
        var http = HTTPClient.Configuration(tlsConfiguration: tls)
        // The agent exports no traces; AsyncHTTPClient's span bookkeeping with the default no-op
        // tracer (URL parsing, attributes) was 1 % of the agent's CPU at 1,000 events/s.
        http.tracing.tracer = nil
        http.timeout = .init(connect: .seconds(10), read: .seconds(Int64(configuration.collector.timeout.components.seconds)))
        // Fail a request at the first refused connection or handshake, so the error reaches
        // /v1/health and the log at once; the shipper's own backoff does the retrying.
        http.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    static func load<T>(_ key: String, _ path: String, _ body: (String) throws -> T) throws -> T {
        do {
            return try body(path)
        } catch {
            throw ConfigError(file: "agent.toml", key: key, message: "cannot load \(path): \(error)")
        }
    }

    enum Outcome {
        case acknowledged
        case retryAfter(Duration)
        case failed(String, reachable: Bool)
    }

    public func run() async throws {
        let poller = Task { await cancelWhenGracefulShutdown { await self.pollCommands() } }
        defer { poller.cancel() }
        await cancelWhenGracefulShutdown {
            var attempt = 0
            var liveTurn = true
            while !Task.isCancelled {
                let records = self.nextBatch(liveFirst: &liveTurn)
                if records.isEmpty {
                    self.saveAcknowledgements(ifDue: true)
                    try? await EventLoopTaskExecutor.sleep(for: self.settings.maxLinger)
                    continue
                }
                switch await self.send(records) {
                case .acknowledged:
                    attempt = 0
                    if records.count < self.settings.maxEvents { try? await EventLoopTaskExecutor.sleep(for: self.settings.maxLinger) }
                case .retryAfter(let wait):
                    try? await EventLoopTaskExecutor.sleep(for: wait)
                case .failed(let message, let reachable):
                    self.status.failed(message, reachable: reachable)
                    attempt += 1
                    try? await EventLoopTaskExecutor.sleep(for: self.backoff(attempt: attempt))
                }
            }
        }
        // Last flush on graceful shutdown, within a bound.
        let deadline = ContinuousClock.now + settings.shutdownFlushTimeout
        var live = false
        while ContinuousClock.now < deadline {
            let records = nextBatch(liveFirst: &live)
            guard !records.isEmpty, case .acknowledged = await send(records) else { break }
        }
        saveAcknowledgements()
        poller.cancel()
        _ = await poller.value
        try? await client.shutdown()
    }

    /// Writes the acknowledgements the WAL holds back (it writes its state file at most every
    /// `stateSaveInterval` while batches flow): when due, or at once at shutdown.
    func saveAcknowledgements(ifDue: Bool = false) {
        do {
            try wal.saveAcknowledgements(ifDue: ifDue)
        } catch {
            logger.warning("cannot write the WAL state file", metadata: ["error": "\(error)"])
        }
    }

    /// Alternates newest and oldest unacknowledged records while there is more than one batch to send.
    func nextBatch(liveFirst: inout Bool) -> [EncodedRecord] {
        let stats = wal.stats
        let backlog = stats.backlogEvents
        // Nothing waiting: no file to read.
        if backlog == 0 { return [] }
        defer { liveFirst.toggle() }
        if liveFirst && backlog > UInt64(settings.maxEvents) {
            let from = stats.nextSequence > UInt64(settings.maxEvents) ? stats.nextSequence - UInt64(settings.maxEvents) : 1
            let live = wal.readEncoded(from: from, maxEvents: settings.maxEvents, maxBytes: settings.maxBytes)
            if !live.isEmpty { return live }
        }
        return wal.readEncoded(from: 1, maxEvents: settings.maxEvents, maxBytes: settings.maxBytes)
    }

    /// Full jitter: uniformly random in [0, min(max, initial · 2^attempt)].
    func backoff(attempt: Int) -> Duration {
        let cap = settings.backoffMax.seconds
        let base = settings.backoffInitial.seconds * pow(2, Double(min(attempt, 30)))
        return .milliseconds(Int64(Double.random(in: 0...min(cap, base)) * 1000))
    }

    /// Sends the records as they are in the WAL (no event is decoded and encoded again).
    func send(_ records: [EncodedRecord]) async -> Outcome {
        let body: [UInt8]
        do {
            body = try compressor.withLock { (compressor) throws(WireError) in
                try BatchFrame.encodeCompressed(agentID: agentID, epoch: wal.epoch, records: records, with: compressor)
            }
        } catch {
            return .failed("cannot encode batch: \(error)", reachable: false)
        }
        var request = HTTPClientRequest(url: collectorURL)
        request.method = .POST
        request.headers.add(name: "Content-Encoding", value: "zstd")
        request.headers.add(name: "Content-Type", value: "application/vnd.fleet.batch")
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .seconds(Int64(timeout.components.seconds)))
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            switch response.status.code {
            case 200:
                guard let first = records.first?.sequence, let last = records.last?.sequence else { return .acknowledged }
                let reply = CollectorReply(text.utf8)
                let through = reply.ackedThrough ?? last
                try wal.acknowledge(first...min(through, last))
                status.acknowledged(through: min(through, last))
                if !reply.commands.isEmpty { onCommands(reply.commands) }
                return .acknowledged
            case 429, 503:
                let wait = response.headers.first(name: "Retry-After").flatMap(Int64.init).map { Duration.seconds($0) } ?? settings.backoffInitial
                status.failed("collector answered \(response.status.code); retrying in \(wait)", reachable: true)
                return .retryAfter(wait)
            default:
                return .failed("collector answered \(response.status.code): \(text.prefix(300))", reachable: true)
            }
        } catch {
            logger.debug("send failed", metadata: ["error": "\(error)"])
            return .failed("cannot reach the collector at \(collectorURL): \(error)", reachable: false)
        }
    }


    /// Long-polls `GET /v1/commands?wait=30`, so an idle agent gets a command within a second of
    /// its queueing. Runs until graceful shutdown; failures wait like the shipper's do.
    func pollCommands() async {
        var attempt = 0
        let url = String(collectorURL.dropLast("/v1/batches".count)) + "/v1/commands?wait=30"
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(45))
                let text = String(buffer: try await response.body.collect(upTo: 4 << 20))
                guard response.status.code == 200 else { throw WALError("collector answered \(response.status.code)") }
                attempt = 0
                let commands = CollectorReply(text.utf8).commands
                if !commands.isEmpty { onCommands(commands) }
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                logger.debug("command poll failed", metadata: ["error": "\(error)"])
                attempt += 1
                try? await EventLoopTaskExecutor.sleep(for: backoff(attempt: attempt))
            }
        }
    }

}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
