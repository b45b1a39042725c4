import FleetCore

/// Everything `fleet-collector run --config FILE` reads. Each field names
/// its config key; collector/collector.toml documents them with defaults.
public struct CollectorConfiguration: Sendable {
    /// `[server]`: the agents' listener. Mutual TLS, client certificate required.
    public struct Server: Sendable {
        public init() {}

        /// `server.listen`
        public var host = "0.0.0.0"
        public var port = 7443
        /// `server.ca_file`, `server.cert_file`, `server.key_file`
        public var caFile = "/etc/fleet/pki/ca.pem"
        public var certFile = "/etc/fleet/pki/collector.pem"
        public var keyFile = "/etc/fleet/pki/collector-key.pem"
    }

    /// `[admin]`: the admin API and /metrics. TLS; the admin client
    /// certificate or a bearer token is required (for /metrics, per `metrics_auth`).
    public struct Admin: Sendable {
        public init() {}

        /// `admin.listen`
        public var host = "0.0.0.0"
        public var port = 7444
        /// `admin.token_sha256`: hex SHA-256 digests of accepted bearer tokens.
        public var tokenSHA256: [String] = []
        /// `admin.metrics_auth`: `"open"` or `"token"` (admin certificate or token).
        public var metricsOpen = false
    }

    /// `[ingest]`
    public struct Ingest: Sendable {
        public init() {}

        /// `ingest.max_compressed_bytes`: larger request bodies get 413.
        public var maxCompressedBytes = 8 << 20
        /// `ingest.max_decompressed_bytes`: enforced while decompressing; 413.
        public var maxDecompressedBytes = 64 << 20
        /// `ingest.max_records_per_batch`
        public var maxRecordsPerBatch = 100_000
        /// `ingest.queue_capacity`: batches waiting for the writer before 503.
        public var queueCapacity = 512
        /// `ingest.retry_after`: what 503 and 429 responses tell agents to wait.
        public var retryAfter: Duration = .seconds(2)
        /// `ingest.agent_events_per_second`: per-agent rate limit (token bucket), 0 = off.
        public var agentEventsPerSecond = 50_000
        /// `ingest.agent_burst_events`: bucket size.
        public var agentBurstEvents = 500_000
        /// `ingest.commit_max_events`: events merged in one transaction at most.
        public var commitMaxEvents = 100_000
    }

    /// `[store]`
    public struct Store: Sendable {
        public init() {}

        /// `store.path`
        public var path = "/var/lib/fleet-collector/fleet.sqlite"
        /// `store.synchronous`: `"full"` (fsync on every commit: an acknowledged
        /// batch survives power loss) or `"normal"` (survives a crash of the
        /// collector process, not of the machine).
        public var synchronousFull = true
        /// `store.raw_retention`: raw rows older than this are rolled up into hourly aggregates and deleted.
        public var rawRetention: Duration = .seconds(30 * 86_400)
    }

    /// `[summaries]`
    public struct Summaries: Sendable {
        public init() {}

        /// `summaries.min_sample`: fewer runs than this and a success rate is unknown.
        public var minSample = 10
        /// `summaries.stuck_after`: a running execution with no step for this long is stuck.
        public var stuckAfter: Duration = .seconds(600)
        /// `summaries.online_within`: last contact within this → online.
        public var onlineWithin: Duration = .seconds(120)
        /// `summaries.stale_within`: within this → stale; beyond → offline.
        public var staleWithin: Duration = .seconds(900)
    }

    public var server = Server()
    public var admin = Admin()
    public var ingest = Ingest()
    public var store = Store()
    public var summaries = Summaries()

    /// `[remediation]`: how rules act (see collector.toml).
    public struct Remediation: Sendable {
        public init() {}

        /// `remediation.interval`: rules are evaluated this often.
        public var interval: Duration = .seconds(15)
        /// `remediation.max_in_flight`: rule-caused commands pending, delivered or running, fleet-wide.
        public var maxInFlight = 10
        /// `remediation.command_deadline`: a command not run by then expires.
        public var commandDeadline: Duration = .seconds(600)
        /// `remediation.redeliver_after`: a delivered command without a result is offered again after this.
        public var redeliverAfter: Duration = .seconds(30)
        /// `remediation.backoff_initial`, `remediation.backoff_max`: a target waits after a failed command, doubling.
        public var backoffInitial: Duration = .seconds(60)
        public var backoffMax: Duration = .seconds(3600)
    }

    public var remediation = Remediation()
    /// `[[rules]]`
    public var rules: [Rule] = []

    public init() {}
}

extension CollectorConfiguration {
    /// Reads a collector.toml; every error names its key.
    public init(file: String) throws(ConfigError) {
        try self.init(table: try ConfigTable(contentsOf: file))
    }

    public init(toml: String, file: String = "collector.toml") throws(ConfigError) {
        try self.init(table: try ConfigTable(parsing: toml, file: file))
    }

    init(table root: ConfigTable) throws(ConfigError) {
        self.init()
        let server = try root.table("server")
        (self.server.host, self.server.port) = try Self.listen(server, default: "0.0.0.0:7443")
        self.server.caFile = try server.string("ca_file", default: self.server.caFile)
        self.server.certFile = try server.string("cert_file", default: self.server.certFile)
        self.server.keyFile = try server.string("key_file", default: self.server.keyFile)

        let admin = try root.table("admin")
        (self.admin.host, self.admin.port) = try Self.listen(admin, default: "0.0.0.0:7444")
        self.admin.tokenSHA256 = try admin.stringArray("token_sha256", default: [])
        for digest in self.admin.tokenSHA256 where digest.count != 64 || !digest.allSatisfy(\.isHexDigit) {
            throw admin.error("token_sha256", "\"\(digest.prefix(16))…\" is not a hex SHA-256 digest (64 hex digits; see `fleetctl token hash`)")
        }
        self.admin.tokenSHA256 = self.admin.tokenSHA256.map { $0.lowercased() }
        switch try admin.string("metrics_auth", default: "token") {
        case "open": self.admin.metricsOpen = true
        case "token": self.admin.metricsOpen = false
        case let other: throw admin.error("metrics_auth", "\"\(other)\" is not one of \"open\", \"token\"")
        }

        let ingest = try root.table("ingest")
        self.ingest.maxCompressedBytes = try ingest.byteSize("max_compressed_bytes", default: self.ingest.maxCompressedBytes, range: 1024...(1 << 30))
        self.ingest.maxDecompressedBytes = try ingest.byteSize("max_decompressed_bytes", default: self.ingest.maxDecompressedBytes, range: 1024...(4 << 30))
        self.ingest.maxRecordsPerBatch = try ingest.int("max_records_per_batch", default: self.ingest.maxRecordsPerBatch, range: 1...10_000_000)
        self.ingest.queueCapacity = try ingest.int("queue_capacity", default: self.ingest.queueCapacity, range: 1...1_000_000)
        self.ingest.retryAfter = try ingest.duration("retry_after", default: self.ingest.retryAfter, range: .seconds(1)...(.seconds(3600)))
        self.ingest.agentEventsPerSecond = try ingest.int("agent_events_per_second", default: self.ingest.agentEventsPerSecond, range: 0...100_000_000)
        self.ingest.agentBurstEvents = try ingest.int("agent_burst_events", default: self.ingest.agentBurstEvents, range: 1...1_000_000_000)
        self.ingest.commitMaxEvents = try ingest.int("commit_max_events", default: self.ingest.commitMaxEvents, range: 1...10_000_000)

        let store = try root.table("store")
        self.store.path = try store.string("path", default: self.store.path)
        switch try store.string("synchronous", default: "full") {
        case "full": self.store.synchronousFull = true
        case "normal": self.store.synchronousFull = false
        case let other: throw store.error("synchronous", "\"\(other)\" is not one of \"full\", \"normal\"")
        }
        self.store.rawRetention = try store.duration("raw_retention", default: self.store.rawRetention, range: .seconds(3600)...(.seconds(3650 * 86_400)))

        let summaries = try root.table("summaries")
        self.summaries.minSample = try summaries.int("min_sample", default: self.summaries.minSample, range: 1...1_000_000)
        self.summaries.stuckAfter = try summaries.duration("stuck_after", default: self.summaries.stuckAfter, range: .seconds(1)...(.seconds(7 * 86_400)))
        self.summaries.onlineWithin = try summaries.duration("online_within", default: self.summaries.onlineWithin, range: .seconds(1)...(.seconds(86_400)))
        self.summaries.staleWithin = try summaries.duration("stale_within", default: self.summaries.staleWithin, range: .seconds(1)...(.seconds(30 * 86_400)))
        guard self.summaries.staleWithin >= self.summaries.onlineWithin else {
            throw summaries.error("stale_within", "must be at least online_within")
        }

        let remediation = try root.table("remediation")
        self.remediation.interval = try remediation.duration("interval", default: self.remediation.interval, range: .milliseconds(100)...(.seconds(3600)))
        self.remediation.maxInFlight = try remediation.int("max_in_flight", default: self.remediation.maxInFlight, range: 0...100_000)
        self.remediation.commandDeadline = try remediation.duration("command_deadline", default: self.remediation.commandDeadline, range: .seconds(1)...(.seconds(7 * 86_400)))
        self.remediation.redeliverAfter = try remediation.duration("redeliver_after", default: self.remediation.redeliverAfter, range: .seconds(1)...(.seconds(86_400)))
        self.remediation.backoffInitial = try remediation.duration("backoff_initial", default: self.remediation.backoffInitial, range: .seconds(0)...(.seconds(86_400)))
        self.remediation.backoffMax = try remediation.duration("backoff_max", default: self.remediation.backoffMax, range: .seconds(0)...(.seconds(30 * 86_400)))
        var names: Set<String> = []
        for table in try root.tables("rules") {
            let rule = try Rule(table: table)
            guard names.insert(rule.name).inserted else { throw table.error("name", "\"\(rule.name)\" is used by another rule") }
            rules.append(rule)
        }
        try root.finish()
    }

    /// `"host:port"`, `"[v6]:port"` or `":port"`.
    static func listen(_ table: ConfigTable, default def: String) throws(ConfigError) -> (String, Int) {
        let text = try table.string("listen", default: def)
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw table.error("listen", "expected \"host:port\", e.g. \"0.0.0.0:7443\"")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }
}
