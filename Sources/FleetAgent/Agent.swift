import FleetCore
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Version of this agent build.
public enum FleetAgentInfo {
    public static let version = FleetVersion.current
}

/// The agent process: recorder and WAL writer, shipper, loopback API and the
/// periodic status report, as one ServiceGroup. SIGTERM stops the loopback
/// API, syncs the WAL, tries a last flush within `shipper.shutdown_flush_timeout`, and returns.
/// The services run on one event loop of NIO's singleton group (``EventLoopTaskExecutor``), the
/// loop their HTTP server and client use; `fleet-agent run` makes that group one loop.
public final class Agent: Sendable {
    public let configuration: AgentConfiguration
    public let wal: WriteAheadLog
    public let recorder: Recorder
    /// A swift-metrics backend for in-process Swift executors: `MetricsSystem.bootstrap(agent.metrics)`.
    public let metrics: FleetMetricsFactory
    let status = ShipperStatus()
    /// The config file, for `reload_config`.
    let configFile: String?
    let started = ContinuousClock.now
    let logger: Logger
    let loopbackPort = PortPromise()
    private let running = Mutex<ServiceGroup?>(nil)

    public init(configuration: AgentConfiguration, configFile: String? = nil, logger: Logger) throws {
        self.configuration = configuration
        self.configFile = configFile
        self.logger = logger
        wal = try WriteAheadLog(
            directory: configuration.dataDirectory + "/wal",
            options: .init(maxBytes: configuration.wal.maxBytes, segmentBytes: configuration.wal.segmentBytes))
        recorder = Recorder()
        metrics = FleetMetricsFactory(recorder: recorder)
        let stats = wal.stats
        if stats.lostEvents > 0 {
            logger.warning("WAL recovery found damaged records", metadata: ["lost_events": "\(stats.lostEvents)"])
        }
    }

    public func run() async throws {
        let probe = LinuxProbe()
        let sampler = ResourceSampler(
            recorder: recorder, probe: probe, settings: configuration.sampler, dataDirectory: configuration.dataDirectory)
        let runner = try CommandRunner(
            wal: wal, dataDirectory: configuration.dataDirectory, settings: configuration.actions, configFile: configFile,
            diagnostics: { [self] in self.diagnostics(sampler: sampler) },
            flush: { [wal] in
                do {
                    try wal.sync()
                    return "WAL synced; \(wal.stats.backlogEvents) events waiting for the collector"
                } catch {
                    return "WAL sync failed: \(error)"
                }
            },
            logger: logger)
        let shipper = try Shipper(
            configuration: configuration, wal: wal, status: status, logger: logger, onCommands: { runner.receive($0) })
        let writer = WALWriter(wal: wal, recorder: recorder, syncInterval: configuration.wal.syncInterval, logger: logger)
        let loopback = LoopbackServer(recorder: recorder, wal: wal, status: status, settings: configuration.loopback, logger: logger)
            .application(agentID: configuration.agentID) { [loopbackPort] port in loopbackPort.fulfil(port) }
        let reporter = StatusReporter(agent: self, probe: probe)
        recorder.record(Event(.environment(EnvironmentFacts(facts: EnvironmentProbe.facts(probe: probe, extra: configuration.facts)))))
        let group = ServiceGroup(
            configuration: .init(
                services: ([writer, runner, shipper, reporter, sampler, loopback] as [any Service]).map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        running.withLock { $0 = group }
        defer { running.withLock { $0 = nil } }
        let executor = EventLoopTaskExecutor(loop: MultiThreadedEventLoopGroup.singleton.next())
        try await withTaskExecutorPreference(executor) {
            try await group.run()
        }
    }

    /// The same graceful shutdown as SIGTERM.
    public func shutdown() async {
        await running.withLock { $0 }?.triggerGracefulShutdown()
    }

    /// The loopback port, once bound.
    public func boundLoopbackPort() async -> Int {
        await loopbackPort.value()
    }

    /// The current `agent_status` event.
    public func statusEvent() -> Event {
        let stats = wal.stats
        return Event(
            .agentStatus(
                AgentStatus(
                    walBacklogEvents: stats.backlogEvents, walBacklogBytes: stats.backlogBytes,
                    droppedEvents: stats.droppedEvents + recorder.droppedEvents, lostEvents: stats.lostEvents,
                    lastError: status.snapshot.lastError.map { $0.utf8Prefix(EventLimits.maxMessageBytes) })))
    }
}

extension Agent {
    /// The `run_diagnostics` report: agent, WAL, disk, executor and collector state, as JSON.
    func diagnostics(sampler: ResourceSampler) -> String {
        let stats = wal.stats
        let shipping = status.snapshot
        var report: [String: Any] = [
            "agent_id": configuration.agentID,
            "agent_version": FleetAgentInfo.version,
            "uptime_seconds": Int((ContinuousClock.now - started).seconds),
            "wal": [
                "backlog_events": stats.backlogEvents, "backlog_bytes": stats.backlogBytes, "dropped_events": stats.droppedEvents,
                "lost_events": stats.lostEvents, "segments": stats.segments, "next_sequence": stats.nextSequence,
            ],
            "collector": [
                "url": configuration.collector.url, "reachable": shipping.collectorReachable, "batches_sent": shipping.batchesSent,
                "last_error": shipping.lastError ?? NSNull(),
            ],
            "actions_allowed": configuration.actions.allow.sorted(),
        ]
        if let free = LinuxProbe().diskFree(path: configuration.dataDirectory) { report["data_dir_free_bytes"] = free }
        if let alive = sampler.executorAlive() { report["executor_alive"] = alive }
        if let cache = configuration.sampler.cacheDirectory { report["cache_bytes"] = DiskUsage.bytes(cache) }
        guard let data = try? JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Records an `agent_status` event at start and every minute, and flushes
/// swift-metrics counters and gauges every 10 seconds (and at shutdown).
/// Once `memory.release_start_pages_after` has passed, it hands the pages
/// of the agent's program files back to the OS, once: most of what is
/// resident then was run only to start (config, certificates, TLS set-up,
/// WAL recovery) and would otherwise stay counted in the agent's RSS until
/// the machine ran short of memory.
struct StatusReporter: Service {
    let agent: Agent
    let probe: any PlatformProbe
    var interval: Duration = .seconds(60)
    var metricsInterval: Duration = .seconds(10)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var lastStatus: ContinuousClock.Instant? = nil
            var releasePagesAt = agent.configuration.memory.releaseStartPagesAfter.map { agent.started + $0 }
            while !Task.isCancelled {
                if lastStatus.map({ ContinuousClock.now - $0 >= interval }) ?? true {
                    agent.recorder.record(agent.statusEvent())
                    lastStatus = .now
                }
                agent.metrics.flush()
                if let at = releasePagesAt, ContinuousClock.now >= at {
                    releasePagesAt = nil
                    releaseStartPages()
                }
                var wake = ContinuousClock.now + metricsInterval
                if let at = releasePagesAt { wake = min(wake, at) }
                try? await EventLoopTaskExecutor.sleep(until: wake)
            }
        }
        agent.metrics.flush()
    }

    private func releaseStartPages() {
        guard let (before, after) = probe.releaseProgramPages() else {
            agent.logger.debug("this platform cannot release the agent's start-up pages")
            return
        }
        agent.logger.info(
            "released start-up program pages",
            metadata: ["resident_before_bytes": "\(before)", "resident_after_bytes": "\(after)"])
    }
}

/// The environment facts this platform can tell, plus the operator's from `[facts]` (which win).
enum EnvironmentProbe {
    static func facts(probe: any PlatformProbe, extra: [String: String]) -> [String: String] {
        var facts = probe.environmentFacts()
        facts["agent_version"] = FleetAgentInfo.version
        for (key, value) in extra { facts[key] = value }
        return facts
    }
}
