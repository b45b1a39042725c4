import FleetCore

/// The one screen an operator reads first.
public struct FleetSummary: Sendable, Hashable, Encodable {
    public struct AgentCounts: Sendable, Hashable, Encodable {
        public var online = 0
        public var stale = 0
        public var offline = 0
        public var executorDown = 0
        public var dropping = 0
        enum CodingKeys: String, CodingKey {
            case online, stale, offline, executorDown = "executor_down", dropping = "dropping_events"
        }
    }

    public struct Period: Sendable, Hashable, Encodable {
        public var window: String
        public var runs: Int
        public var successes: Int
        @NullEncoded public var successRate: Double?
        @NullEncoded public var p95DurationMs: Double?
        enum CodingKeys: String, CodingKey {
            case window, runs, successes, successRate = "success_rate", p95DurationMs = "p95_duration_ms"
        }
    }

    public var generatedAt: Timestamp
    public var agents: AgentCounts
    public var lastHour: Period
    public var last24h: Period
    public var running: Int
    public var stuck: Int
    /// Lowest success rates first, among groups with enough runs (24 h).
    public var worstWorkflows: [RunSummary]
    public var worstEnvironments: [RunSummary]
    public var remediations: RemediationSummary
    public var alerts: [Alert]

    enum CodingKeys: String, CodingKey {
        case generatedAt = "generated_at", agents, lastHour = "last_hour", last24h = "last_24h", running, stuck
        case worstWorkflows = "worst_workflows", worstEnvironments = "worst_environments", remediations, alerts
    }
}

extension Summaries {
    public func fleet() async throws -> FleetSummary {
        let now = self.now
        var counts = FleetSummary.AgentCounts()
        for agent in try await agents() {
            switch agent.liveness {
            case .online: counts.online += 1
            case .stale: counts.stale += 1
            case .offline: counts.offline += 1
            }
            if agent.executorAlive == false { counts.executorDown += 1 }
            if (agent.droppedEvents ?? 0) > 0 || (agent.lostEvents ?? 0) > 0 { counts.dropping += 1 }
        }
        func period(_ name: String) async throws -> FleetSummary.Period {
            let window = SummaryWindow.last(name, now: now) ?? SummaryWindow(from: now, to: now)
            let all = try await runs(by: .fleet, window: window).first
            return FleetSummary.Period(
                window: name, runs: all?.runs ?? 0, successes: all?.successes ?? 0, successRate: all?.successRate,
                p95DurationMs: all?.duration?.p95Ms)
        }
        let hour = try await period("1h")
        let day = try await period("24h")
        let dayWindow = SummaryWindow.last("24h", now: now) ?? SummaryWindow(from: now, to: now)
        let workflows = try await runs(by: .workflow, window: dayWindow)
        let environments = try await runs(by: .environment, window: dayWindow)
        let running = try await running()
        func worst(_ groups: [RunSummary]) -> [RunSummary] {
            Array(groups.filter { $0.successRate != nil }.sorted { ($0.successRate ?? 1, $0.key) < ($1.successRate ?? 1, $1.key) }.prefix(5))
        }
        return FleetSummary(
            generatedAt: now, agents: counts, lastHour: hour, last24h: day, running: running.count,
            stuck: running.filter(\.stuck).count, worstWorkflows: worst(workflows), worstEnvironments: worst(environments),
            remediations: try await remediations(), alerts: try await alerts())
    }
}
