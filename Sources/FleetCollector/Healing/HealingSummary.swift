import FleetCore
import GRDB

/// An alert a rule raised: an alert-only rule whose condition holds, or a
/// rule that stopped acting on a target after ineffective remediations.
public struct Alert: Sendable, Hashable, Encodable {
    public var rule: String
    public var target: String
    @NullEncoded public var agentID: String?
    @NullEncoded public var since: Timestamp?
    public var message: String
    /// True when the rule gave up on the target (escalation), false for an alert-only rule.
    public var escalated: Bool

    enum CodingKeys: String, CodingKey {
        case rule, target, agentID = "agent_id", since, message, escalated
    }
}

/// Remediations at a glance, for `fleetctl status` and /metrics.
public struct RemediationSummary: Sendable, Hashable, Encodable {
    /// Commands pending, delivered or running (rule-caused and operator).
    public var inFlight: Int
    /// Rule-caused commands created in the last 24 h, and how they ended.
    public var fired24h: Int
    public var effective24h: Int
    public var ineffective24h: Int
    public var failed24h: Int

    enum CodingKeys: String, CodingKey {
        case inFlight = "in_flight", fired24h = "fired_24h", effective24h = "effective_24h"
        case ineffective24h = "ineffective_24h", failed24h = "failed_24h"
    }
}

/// One entry of the rules' audit trail.
public struct RuleEvent: Sendable, Hashable, Encodable {
    public var at: Timestamp
    public var rule: String
    public var target: String
    @NullEncoded public var agentID: String?
    /// fired, dry_run, suppressed, alert, cleared, reverted, effective, ineffective, escalated, backoff.
    public var kind: String
    @NullEncoded public var value: Double?
    public var detail: String
    @NullEncoded public var commandID: String?

    enum CodingKeys: String, CodingKey {
        case at, rule, target, agentID = "agent_id", kind, value, detail, commandID = "command_id"
    }
}

extension Summaries {
    public func alerts() async throws -> [Alert] {
        try await store.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT rule, target, agent_id, alert_since, alert, escalated FROM rule_targets WHERE alert IS NOT NULL ORDER BY alert_since, rule, target"
            ).map { row in
                Alert(
                    rule: row[0], target: row[1], agentID: row[2], since: (row[3] as Int64?).map(Timestamp.init(microsecondsSinceEpoch:)),
                    message: row[4], escalated: row[5])
            }
        }
    }

    public func remediations() async throws -> RemediationSummary {
        let since = now.microsecondsSinceEpoch - 86_400_000_000
        return try await store.read { db in
            let inFlight = try Int.fetchOne(db, sql: "SELECT count(*) FROM commands WHERE state IN ('pending', 'delivered', 'running')") ?? 0
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT count(*), coalesce(sum(effect = 'effective'), 0), coalesce(sum(effect = 'ineffective'), 0),
                           coalesce(sum(state IN ('failed', 'refused', 'timed_out', 'expired')), 0)
                    FROM commands WHERE cause = 'rule' AND is_revert = 0 AND created_at >= ?
                    """, arguments: [since])
            return RemediationSummary(
                inFlight: inFlight, fired24h: row?[0] ?? 0, effective24h: row?[1] ?? 0, ineffective24h: row?[2] ?? 0,
                failed24h: row?[3] ?? 0)
        }
    }

    public func ruleEvents(rule: String? = nil, target: String? = nil, limit: Int = 100) async throws -> [RuleEvent] {
        let filter = SQLFilter([("rule", rule), ("target", target)])
        let query = "SELECT at, rule, target, agent_id, kind, value, detail, command_id FROM rule_events"
            + "\(filter.whereClause) ORDER BY id DESC LIMIT \(max(1, min(limit, 10_000)))"
        let values = filter.arguments
        return try await store.read { db in
            try Row.fetchAll(db, sql: query, arguments: values).map { row in
                RuleEvent(
                    at: Timestamp(microsecondsSinceEpoch: row[0]), rule: row[1], target: row[2], agentID: row[3], kind: row[4],
                    value: row[5], detail: row[6], commandID: row[7])
            }
        }
    }
}
