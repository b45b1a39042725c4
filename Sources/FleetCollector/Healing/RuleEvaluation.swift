import FleetCore
import GRDB

/// A rule's value for one target at one moment.
struct TargetValue: Sendable, Hashable {
    /// `pc-17`, `pc-17/invoice` (success rate per agent and workflow), a workflow, an environment, or `fleet`.
    var target: String
    /// The agent commands for this target go to (agent scope).
    var agent: String?
    var value: Double
    /// How many samples the value rests on (steps, runs, errors, resource samples, reports).
    var samples: Int
}

/// Computes rules' values from the store over their windows.
enum RuleEvaluation {
    /// Every target's value for `rule` over `[now - window, now)`.
    static func values(_ rule: Rule, now: Int64, db: Database) throws -> [TargetValue] {
        let from = now - rule.window.microseconds
        switch rule.metric {
        case .stepTotalMs, .stepOCRMs, .stepUIMs, .stepAnalyzeMs:
            let column =
                switch rule.metric {
                case .stepOCRMs: "ocr_ms"
                case .stepUIMs: "ui_ms"
                case .stepAnalyzeMs: "analyze_ms"
                default: "total_ms"
                }
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT agent_id, workflow_id, coalesce(env_hash, ''), \(column) FROM steps
                    WHERE finished_at >= ? AND finished_at < ? AND \(column) IS NOT NULL ORDER BY finished_at
                    """, arguments: [from, now])
            var groups: [Group: [Double]] = [:]
            while let row = try rows.next() {
                let group = Group(rule.scope, agent: row[0], workflow: row[1], environment: row[2])
                groups[group, default: []].append(row[3])
            }
            return groups.map { group, values in
                TargetValue(target: group.target, agent: group.agent, value: statistic(rule.statistic, values), samples: values.count)
            }

        case .successRate:
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT agent_id, workflow_id, coalesce(env_hash, ''), status = 'success' FROM executions
                    WHERE finished_at >= ? AND finished_at < ? AND status IS NOT NULL
                    """, arguments: [from, now])
            var groups: [Group: (runs: Int, successes: Int)] = [:]
            // Per workflow over the whole fleet, for healthy_elsewhere.
            var perWorkflowAgent: [String: [String: (runs: Int, successes: Int)]] = [:]
            for row in rows {
                let agent: String = row[0]
                let workflow: String = row[1]
                let success: Bool = row[3]
                var group = Group(rule.scope, agent: agent, workflow: workflow, environment: row[2])
                if rule.scope == .agent { group = Group(target: "\(agent)/\(workflow)", agent: agent) }
                groups[group, default: (0, 0)].runs += 1
                if success { groups[group, default: (0, 0)].successes += 1 }
                perWorkflowAgent[workflow, default: [:]][agent, default: (0, 0)].runs += 1
                if success { perWorkflowAgent[workflow, default: [:]][agent, default: (0, 0)].successes += 1 }
            }
            var values: [TargetValue] = []
            for (group, counts) in groups {
                if let floor = rule.healthyElsewhere, let agent = group.agent {
                    let workflow = String(group.target.dropFirst(agent.count + 1))
                    let others = (perWorkflowAgent[workflow] ?? [:]).filter { $0.key != agent }.values
                    let runs = others.reduce(0) { $0 + $1.runs }
                    let successes = others.reduce(0) { $0 + $1.successes }
                    // Only where the workflow is healthy elsewhere (with enough runs to say so).
                    guard runs >= max(1, rule.minSample), Double(successes) / Double(runs) >= floor else { continue }
                }
                values.append(
                    TargetValue(
                        target: group.target, agent: group.agent, value: Double(counts.successes) / Double(counts.runs),
                        samples: counts.runs))
            }
            return values

        case .errorCount:
            var sql = """
                SELECT e.agent_id, coalesce(e.workflow_id, ''), coalesce(a.env_hash, '') FROM errors e
                LEFT JOIN agents a ON a.agent_id = e.agent_id WHERE e.ts >= ? AND e.ts < ?
                """
            var arguments: [any DatabaseValueConvertible] = [from, now]
            for (key, value) in rule.filter.sorted(by: { $0.key < $1.key }) {
                sql += " AND e.\(key == "type" ? "error_type" : key) = ?"
                arguments.append(value)
            }
            var counts: [Group: Int] = [:]
            // Every known agent counts, with zero errors too: that is how an error burst clears.
            if rule.scope == .agent {
                for agent in try String.fetchAll(db, sql: "SELECT agent_id FROM agents") {
                    counts[Group(target: agent, agent: agent)] = 0
                }
            }
            for row in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments.map(\.databaseValue))) {
                counts[Group(rule.scope, agent: row[0], workflow: row[1], environment: row[2]), default: 0] += 1
            }
            return counts.map { TargetValue(target: $0.key.target, agent: $0.key.agent, value: Double($0.value), samples: $0.value) }

        case .executorAlive, .cacheBytes:
            let column = rule.metric == .executorAlive ? "r.executor_alive" : "r.cache_bytes"
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT r.agent_id, coalesce(a.env_hash, ''), \(column) FROM resource_samples r
                    LEFT JOIN agents a ON a.agent_id = r.agent_id
                    WHERE r.ts >= ? AND r.ts < ? AND \(column) IS NOT NULL ORDER BY r.ts
                    """, arguments: [from, now])
            var groups: [Group: [Double]] = [:]
            while let row = try rows.next() {
                groups[Group(rule.scope, agent: row[0], workflow: "", environment: row[1]), default: []].append(row[2])
            }
            return groups.map { group, values in
                TargetValue(target: group.target, agent: group.agent, value: statistic(rule.statistic, values), samples: values.count)
            }

        case .walBacklogEvents, .droppedEvents:
            let column = rule.metric == .walBacklogEvents ? "s.wal_backlog_events" : "s.dropped_events + s.lost_events"
            var groups: [Group: Double] = [:]
            var samples: [Group: Int] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT s.agent_id, coalesce(a.env_hash, ''), \(column) FROM agent_status s
                    LEFT JOIN agents a ON a.agent_id = s.agent_id
                    """)
            {
                let group = Group(rule.scope, agent: row[0], workflow: "", environment: row[1])
                groups[group, default: 0] += row[2] as Double
                samples[group, default: 0] += 1
            }
            return groups.map { TargetValue(target: $0.key.target, agent: $0.key.agent, value: $0.value, samples: samples[$0.key] ?? 0) }
        }
    }

    /// A target key for a row at the rule's scope.
    struct Group: Hashable {
        var target: String
        var agent: String?

        init(target: String, agent: String?) {
            self.target = target
            self.agent = agent
        }

        init(_ scope: Rule.Scope, agent: String, workflow: String, environment: String) {
            switch scope {
            case .agent: self.init(target: agent, agent: agent)
            case .workflow: self.init(target: workflow, agent: nil)
            case .environment: self.init(target: environment.isEmpty ? "unknown" : environment, agent: nil)
            case .fleet: self.init(target: "fleet", agent: nil)
            }
        }
    }

    /// `values` in time order.
    static func statistic(_ statistic: Rule.Statistic, _ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        switch statistic {
        case .p50, .p95, .p99:
            let p = statistic == .p50 ? 50.0 : statistic == .p95 ? 95 : 99
            let sorted = values.sorted()
            let rank = max(1, Int((p / 100 * Double(sorted.count)).rounded(.up)))
            return sorted[min(rank, sorted.count) - 1]
        case .mean: return values.reduce(0, +) / Double(values.count)
        case .max: return values.max() ?? .nan
        case .min: return values.min() ?? .nan
        case .count: return Double(values.count)
        case .last: return values[values.count - 1]
        case .rate: return values.reduce(0, +) / Double(values.count)
        }
    }
}
