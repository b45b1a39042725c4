import FleetCore
import GRDB
import Logging
import ServiceLifecycle

/// The self-healing loop. Every `remediation.interval` it expires overdue
/// commands, judges the effect of finished remediations, and evaluates every
/// rule for every target: firing at most once per cooldown (and not during a
/// target's failure backoff, nor past the fleet-wide cap of remediations in
/// flight), reverting when the condition clears, and escalating to an alert
/// after `max_ineffective` remediations that did not help. Every decision is
/// written to `rule_events`, dry runs included.
public final class RuleEngine: Service, Sendable {
    let store: FleetStore
    let rules: [Rule]
    let settings: CollectorConfiguration.Remediation
    let hub: CommandHub
    let logger: Logger
    let clock: @Sendable () -> Timestamp

    init(
        store: FleetStore, rules: [Rule], settings: CollectorConfiguration.Remediation, hub: CommandHub, logger: Logger,
        clock: @escaping @Sendable () -> Timestamp = { .now() }
    ) {
        self.store = store
        self.rules = rules
        self.settings = settings
        self.hub = hub
        self.logger = logger
        self.clock = clock
    }

    public func run() async throws {
        // Commands queued before a restart are delivered again.
        do {
            for agent in try await store.agentsWithOpenCommands() { await hub.queued(for: agent) }
        } catch {
            logger.error("cannot read open commands", metadata: ["error": "\(error)"])
        }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await tick()
            } catch {
                logger.error("rule evaluation failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.settings.interval) }
        }
    }

    /// What a tick did, for logs and tests.
    struct TickReport: Sendable, Equatable {
        var fired = 0
        var dryRuns = 0
        var suppressed = 0
        var reverted = 0
        var judged = 0
        var escalated = 0
        var expired = 0
    }

    /// One evaluation of everything.
    @discardableResult
    func tick() async throws -> TickReport {
        let now = clock()
        var report = TickReport()
        report.expired = try await store.expireCommands(now: now, grace: settings.redeliverAfter)
        let t = now.microsecondsSinceEpoch
        let rules = self.rules
        let settings = self.settings
        let (outcome, queuedAgents) = try await store.pool.write { db in
            var state = TickState(db: db, now: t, settings: settings)
            try state.load()
            var values: [String: [String: TargetValue]] = [:]
            for rule in rules {
                values[rule.name] = Dictionary(
                    try RuleEvaluation.values(rule, now: t, db: db).map { ($0.target, $0) }, uniquingKeysWith: { a, _ in a })
            }
            for rule in rules { try state.judgeEffects(rule, values: values[rule.name] ?? [:]) }
            for rule in rules { try state.decide(rule, values: values[rule.name] ?? [:]) }
            return (state.report, state.queuedAgents)
        }
        report = TickReport(
            fired: outcome.fired, dryRuns: outcome.dryRuns, suppressed: outcome.suppressed, reverted: outcome.reverted,
            judged: outcome.judged, escalated: outcome.escalated, expired: report.expired)
        for agent in queuedAgents { await hub.queued(for: agent) }
        // Delivered commands still without a result are offered again.
        for agent in try await store.agentsWithRedeliveries(now: now, after: settings.redeliverAfter) {
            await hub.queued(for: agent)
        }
        if report != TickReport(expired: report.expired) || report.expired > 0 {
            logger.info(
                "rules evaluated",
                metadata: [
                    "fired": "\(report.fired)", "dry_run": "\(report.dryRuns)", "suppressed": "\(report.suppressed)",
                    "reverted": "\(report.reverted)", "judged": "\(report.judged)", "escalated": "\(report.escalated)",
                    "expired": "\(report.expired)",
                ])
        }
        return report
    }
}

/// The state of rule targets during one tick, inside its write transaction.
struct TickState {
    struct Target {
        var agent: String?
        var active = false
        var lastFiredAt: Int64?
        var failures = 0
        var backoffUntil: Int64?
        var ineffective = 0
        var escalated = false
        var alert: String?
        var alertSince: Int64?
        var lastValue: Double?
    }

    let db: Database
    let now: Int64
    let settings: CollectorConfiguration.Remediation
    var targets: [String: [String: Target]] = [:]
    var inFlight = 0
    var report = RuleEngine.TickReport()
    var queuedAgents: Set<String> = []

    init(db: Database, now: Int64, settings: CollectorConfiguration.Remediation) {
        self.db = db
        self.now = now
        self.settings = settings
    }

    mutating func load() throws {
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT rule, target, agent_id, active, last_fired_at, failures, backoff_until, ineffective, escalated, alert,
                       alert_since, last_value FROM rule_targets
                """)
        {
            targets[row[0] as String, default: [:]][row[1] as String] = Target(
                agent: row[2], active: row[3], lastFiredAt: row[4], failures: row[5], backoffUntil: row[6], ineffective: row[7],
                escalated: row[8], alert: row[9], alertSince: row[10], lastValue: row[11])
        }
        inFlight = try Int.fetchOne(
            db, sql: "SELECT count(*) FROM commands WHERE cause = 'rule' AND is_revert = 0 AND state IN ('pending', 'delivered', 'running')"
        ) ?? 0
    }

    func save(_ rule: Rule, _ target: String, _ s: Target) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO rule_targets (rule, target, agent_id, active, last_fired_at, failures, backoff_until,
                    ineffective, escalated, alert, alert_since, last_value)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                rule.name, target, s.agent, s.active, s.lastFiredAt, s.failures, s.backoffUntil, s.ineffective, s.escalated,
                s.alert, s.alertSince, s.lastValue,
            ])
    }

    func event(_ rule: Rule, _ target: String, agent: String?, _ kind: String, value: Double?, _ detail: String, command: String? = nil) throws {
        try db.execute(
            sql: "INSERT INTO rule_events (at, rule, target, agent_id, kind, value, detail, command_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: [now, rule.name, target, agent, kind, value, detail, command])
    }

    func describe(_ rule: Rule, _ v: TargetValue) -> String {
        "rule \(rule.name): \(rule.statistic.rawValue) \(rule.metric.rawValue) = \(Rule.format(v.value)) "
            + "\(rule.comparison.rawValue) \(Rule.format(rule.threshold)) over \(ConfigValues.format(rule.window)) "
            + "(\(v.samples) samples) on \(v.target)"
    }

    /// Finished remediations of `rule`: effective or not once `effect_after` has passed, and backoff after failures.
    mutating func judgeEffects(_ rule: Rule, values: [String: TargetValue]) throws {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT command_id, target, agent_id, state, finished_at FROM commands
                WHERE cause = 'rule' AND rule = ? AND is_revert = 0 AND effect IS NULL
                  AND state IN ('succeeded', 'failed', 'refused', 'timed_out', 'expired')
                """, arguments: [rule.name])
        for row in rows {
            let id: String = row[0]
            let target: String = row[1]
            let agent: String = row[2]
            let state: String = row[3]
            let finished: Int64 = (row[4] as Int64?) ?? now
            var s = targets[rule.name]?[target] ?? Target(agent: agent)
            if state != "succeeded" {
                // Nothing was applied: back off from this target, doubling.
                s.failures += 1
                s.active = false
                let wait = min(
                    settings.backoffInitial.microseconds << Int64(min(s.failures - 1, 30)), settings.backoffMax.microseconds)
                s.backoffUntil = now + wait
                try db.execute(sql: "UPDATE commands SET effect = 'not_applied' WHERE command_id = ?", arguments: [id])
                try event(rule, target, agent: agent, "backoff", value: nil, "command \(id) \(state); next attempt after \(ConfigValues.format(.microseconds(wait)))", command: id)
                targets[rule.name, default: [:]][target] = s
                try save(rule, target, s)
                continue
            }
            s.failures = 0
            s.backoffUntil = nil
            guard now - finished >= rule.effectAfter.microseconds else {
                targets[rule.name, default: [:]][target] = s
                continue
            }
            guard let v = values[target], v.samples >= rule.minSample, !v.value.isNaN else {
                // No data to judge by; give up after three effect periods.
                if now - finished >= 3 * rule.effectAfter.microseconds {
                    try db.execute(sql: "UPDATE commands SET effect = 'unknown' WHERE command_id = ?", arguments: [id])
                }
                continue
            }
            report.judged += 1
            let effective = !rule.comparison.holds(v.value, rule.threshold)
            try db.execute(
                sql: "UPDATE commands SET value_after = ?, effect = ? WHERE command_id = ?",
                arguments: [v.value, effective ? "effective" : "ineffective", id])
            try event(
                rule, target, agent: agent, effective ? "effective" : "ineffective", value: v.value,
                "after command \(id): \(rule.statistic.rawValue) \(rule.metric.rawValue) = \(Rule.format(v.value))", command: id)
            if effective {
                s.ineffective = 0
            } else {
                s.ineffective += 1
                if s.ineffective >= rule.maxIneffective && !s.escalated {
                    s.escalated = true
                    s.alert = "rule \(rule.name): \(s.ineffective) ineffective remediations on \(target); stopped acting there"
                    s.alertSince = now
                    report.escalated += 1
                    try event(rule, target, agent: agent, "escalated", value: v.value, s.alert ?? "")
                }
            }
            targets[rule.name, default: [:]][target] = s
            try save(rule, target, s)
        }
    }

    /// Fires, suppresses, clears or reverts `rule` on each target with enough samples.
    mutating func decide(_ rule: Rule, values: [String: TargetValue]) throws {
        for target in values.keys.sorted() {
            guard let v = values[target], v.samples >= rule.minSample, !v.value.isNaN else { continue }
            var s = targets[rule.name]?[target] ?? Target(agent: v.agent)
            s.agent = v.agent ?? s.agent
            s.lastValue = v.value
            defer { targets[rule.name, default: [:]][target] = s }
            if rule.comparison.holds(v.value, rule.threshold) {
                try fire(rule, v, &s)
            } else if rule.comparison.cleared(v.value, rule.clearThreshold) {
                try clear(rule, v, &s)
            }
            try save(rule, target, s)
        }
    }

    mutating func fire(_ rule: Rule, _ v: TargetValue, _ s: inout Target) throws {
        let target = v.target
        if s.escalated { return }
        if rule.isAlertOnly {
            if s.alert == nil {
                s.alert = describe(rule, v)
                s.alertSince = now
                report.fired += 1
                try event(rule, target, agent: v.agent, rule.dryRun ? "dry_run" : "alert", value: v.value, describe(rule, v))
            }
            return
        }
        if let last = s.lastFiredAt, now - last < rule.cooldown.microseconds { return }
        if let until = s.backoffUntil, now < until { return }
        guard let agent = v.agent else { return }
        let open = try Int.fetchOne(
            db, sql: "SELECT count(*) FROM commands WHERE rule = ? AND target = ? AND state IN ('pending', 'delivered', 'running')",
            arguments: [rule.name, target]) ?? 0
        if open > 0 { return }
        if rule.dryRun {
            s.lastFiredAt = now
            report.dryRuns += 1
            try event(rule, target, agent: agent, "dry_run", value: v.value, describe(rule, v) + "; would send \(rule.action) (dry run)")
            return
        }
        if inFlight >= settings.maxInFlight {
            // Once per cooldown, not every tick.
            let recent = try Int.fetchOne(
                db, sql: "SELECT count(*) FROM rule_events WHERE rule = ? AND target = ? AND kind = 'suppressed' AND at > ?",
                arguments: [rule.name, target, now - max(rule.cooldown.microseconds, settings.interval.microseconds)]) ?? 0
            if recent == 0 {
                report.suppressed += 1
                try event(
                    rule, target, agent: agent, "suppressed", value: v.value,
                    describe(rule, v) + "; not sent: \(inFlight) remediations in flight (remediation.max_in_flight = \(settings.maxInFlight))")
            }
            return
        }
        let id = try FleetStore.insertCommand(
            db,
            NewCommand(
                agentID: agent, action: rule.action, args: rule.actionArgs, cause: "rule", rule: rule.name, target: target,
                causedBy: describe(rule, v), deadline: settings.commandDeadline, valueBefore: v.value),
            now: now)
        inFlight += 1
        s.active = true
        s.lastFiredAt = now
        report.fired += 1
        queuedAgents.insert(agent)
        try event(rule, target, agent: agent, "fired", value: v.value, describe(rule, v) + "; sent \(rule.action)", command: id)
    }

    mutating func clear(_ rule: Rule, _ v: TargetValue, _ s: inout Target) throws {
        let target = v.target
        if s.alert != nil || s.escalated {
            try event(rule, target, agent: v.agent, "cleared", value: v.value, "rule \(rule.name): \(rule.metric.rawValue) back to \(Rule.format(v.value)) on \(target)")
            s.alert = nil
            s.alertSince = nil
            s.escalated = false
            s.ineffective = 0
        }
        guard s.active else { return }
        if let fired = s.lastFiredAt, now - fired < rule.revertAfter.microseconds { return }
        s.active = false
        guard let revert = rule.revertAction, let agent = v.agent ?? s.agent else { return }
        if rule.dryRun {
            try event(rule, target, agent: agent, "dry_run", value: v.value, "rule \(rule.name) cleared; would send \(revert) (dry run)")
            return
        }
        let id = try FleetStore.insertCommand(
            db,
            NewCommand(
                agentID: agent, action: revert, args: rule.revertArgs, cause: "rule", rule: rule.name, target: target,
                causedBy: "rule \(rule.name) cleared: \(rule.metric.rawValue) = \(Rule.format(v.value)) on \(target)", isRevert: true,
                deadline: settings.commandDeadline, valueBefore: v.value),
            now: now)
        report.reverted += 1
        queuedAgents.insert(agent)
        try event(rule, target, agent: agent, "reverted", value: v.value, "condition cleared; sent \(revert)", command: id)
    }
}

extension FleetStore {
    /// Agents with delivered commands that have waited `after` without a result.
    func agentsWithRedeliveries(now: Timestamp, after: Duration) async throws -> Set<String> {
        let t = now.microsecondsSinceEpoch
        return try await pool.read { db in
            Set(
                try String.fetchAll(
                    db, sql: "SELECT DISTINCT agent_id FROM commands WHERE state = 'delivered' AND delivered_at <= ? AND deadline > ?",
                    arguments: [t - after.microseconds, t]))
        }
    }
}
