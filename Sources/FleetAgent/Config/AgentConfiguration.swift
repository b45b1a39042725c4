import FleetCore

/// Everything `fleet-agent run --config FILE` reads; agent/agent.toml
/// documents each key with its default.
public struct AgentConfiguration: Sendable {
    /// `agent_id` (required): must equal the common name of the agent's certificate.
    public var agentID = ""
    /// `data_dir`: the WAL and agent state live here.
    public var dataDirectory = "/var/lib/fleet-agent"

    /// `[collector]`
    public struct Collector: Sendable {
        public init() {}
        /// `collector.url`: base URL, https only.
        public var url = "https://localhost:7443"
        public var caFile = "/etc/fleet/pki/ca.pem"
        public var certFile = "/etc/fleet/pki/agent.pem"
        public var keyFile = "/etc/fleet/pki/agent-key.pem"
        /// `collector.timeout`: per request.
        public var timeout: Duration = .seconds(30)
    }

    /// `[wal]`
    public struct WAL: Sendable {
        public init() {}
        /// `wal.sync_interval`: group-commit interval; nil for `"always"`.
        public var syncInterval: Duration? = .milliseconds(100)
        public var maxBytes = 1 << 30
        public var segmentBytes = 8 << 20
    }

    /// `[shipper]`
    public struct Shipper: Sendable {
        public init() {}
        public var maxEvents = 5000
        public var maxBytes = 4 << 20
        public var maxLinger: Duration = .milliseconds(200)
        public var zstdLevel: Int32 = 3
        public var backoffInitial: Duration = .milliseconds(200)
        public var backoffMax: Duration = .seconds(30)
        /// `shipper.shutdown_flush_timeout`: on SIGTERM, how long to try a last flush.
        public var shutdownFlushTimeout: Duration = .seconds(5)
    }

    /// `[loopback]`
    public struct Loopback: Sendable {
        public init() {}
        /// `loopback.port`: HTTP on 127.0.0.1 only; 0 picks a free port.
        public var port = 7070
        public var maxBodyBytes = 8 << 20
    }

    /// `[memory]`
    public struct Memory: Sendable {
        public init() {}
        /// `memory.release_start_pages_after`: how long after start the agent hands the
        /// pages of its program files back to the OS (`PlatformProbe.releaseProgramPages`); nil for `"off"`.
        public var releaseStartPagesAfter: Duration? = .seconds(10)
    }

    public var collector = Collector()
    public var wal = WAL()
    public var shipper = Shipper()
    public var loopback = Loopback()
    public var memory = Memory()
    /// `[sampler]`
    public var sampler = ResourceSampler.Settings()
    /// `[facts]`: operator-given environment facts (executor version, model versions…).
    public var facts: [String: String] = [:]
    /// `[actions]`: what this agent runs when the collector asks.
    public var actions = ActionSettings()

    public init() {}
}

extension AgentConfiguration {
    public init(file: String) throws(ConfigError) {
        try self.init(table: try ConfigTable(contentsOf: file))
    }

    public init(toml: String, file: String = "agent.toml") throws(ConfigError) {
        try self.init(table: try ConfigTable(parsing: toml, file: file))
    }

    init(table root: ConfigTable) throws(ConfigError) {
        self.init()
        guard let id = try root.optionalString("agent_id") else {
            throw root.error("agent_id", "required: the agent's id, as in its certificate")
        }
        if let why = AgentID.problem(with: id) { throw root.error("agent_id", why) }
        agentID = id
        dataDirectory = try root.string("data_dir", default: dataDirectory)

        let c = try root.table("collector")
        collector.url = try c.string("url", default: collector.url)
        guard collector.url.hasPrefix("https://") else { throw c.error("url", "must start with https:// (mutual TLS is required)") }
        while collector.url.hasSuffix("/") { collector.url.removeLast() }
        collector.caFile = try c.string("ca_file", default: collector.caFile)
        collector.certFile = try c.string("cert_file", default: collector.certFile)
        collector.keyFile = try c.string("key_file", default: collector.keyFile)
        collector.timeout = try c.duration("timeout", default: collector.timeout, range: .seconds(1)...(.seconds(600)))

        let w = try root.table("wal")
        if (try? w.optionalString("sync_interval")) == "always" {
            wal.syncInterval = nil
        } else {
            wal.syncInterval = try w.duration("sync_interval", default: .milliseconds(100), range: .milliseconds(1)...(.seconds(10)))
        }
        wal.maxBytes = try w.byteSize("max_bytes", default: wal.maxBytes, range: (1 << 20)...(1 << 40))
        wal.segmentBytes = try w.byteSize("segment_bytes", default: wal.segmentBytes, range: (64 << 10)...(256 << 20))
        guard wal.segmentBytes * 2 <= wal.maxBytes else { throw w.error("segment_bytes", "must be at most half of max_bytes") }

        let s = try root.table("shipper")
        shipper.maxEvents = try s.int("max_events", default: shipper.maxEvents, range: 1...100_000)
        shipper.maxBytes = try s.byteSize("max_bytes", default: shipper.maxBytes, range: (16 << 10)...(64 << 20))
        shipper.maxLinger = try s.duration("max_linger", default: shipper.maxLinger, range: .zero...(.seconds(60)))
        shipper.zstdLevel = Int32(try s.int("zstd_level", default: Int(shipper.zstdLevel), range: 1...19))
        shipper.backoffInitial = try s.duration("backoff_initial", default: shipper.backoffInitial, range: .milliseconds(10)...(.seconds(60)))
        shipper.backoffMax = try s.duration("backoff_max", default: shipper.backoffMax, range: .seconds(1)...(.seconds(3600)))
        shipper.shutdownFlushTimeout = try s.duration("shutdown_flush_timeout", default: shipper.shutdownFlushTimeout, range: .zero...(.seconds(300)))

        let l = try root.table("loopback")
        loopback.port = try l.int("port", default: loopback.port, range: 0...65535)
        loopback.maxBodyBytes = try l.byteSize("max_body_bytes", default: loopback.maxBodyBytes, range: 1024...(1 << 30))

        let r = try root.table("memory")
        if (try? r.optionalString("release_start_pages_after")) == "off" {
            memory.releaseStartPagesAfter = nil
        } else {
            memory.releaseStartPagesAfter = try r.duration(
                "release_start_pages_after", default: .seconds(10), range: .seconds(1)...(.seconds(3600)))
        }

        let m = try root.table("sampler")
        sampler.interval = try m.duration("interval", default: sampler.interval, range: .seconds(1)...(.seconds(3600)))
        sampler.executorProcess = try m.optionalString("executor_process").flatMap { $0.isEmpty ? nil : $0 }
        sampler.executorPIDFile = try m.optionalString("executor_pid_file").flatMap { $0.isEmpty ? nil : $0 }
        sampler.cacheDirectory = try m.optionalString("cache_dir").flatMap { $0.isEmpty ? nil : $0 }
        sampler.nvidiaSMI = try m.string("nvidia_smi", default: sampler.nvidiaSMI)

        let f = try root.table("facts")
        for key in f.keys {
            facts[key] = try f.string(key, default: "")
        }
        actions = try ActionSettings(table: try root.table("actions"), dataDirectory: dataDirectory, cacheDirectory: sampler.cacheDirectory)
        try root.finish()
    }
}
