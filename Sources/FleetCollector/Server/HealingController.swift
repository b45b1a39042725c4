import FleetCore
import FleetPKI
import GRDB
import Hummingbird

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Self-healing on the admin API (docs/API.md): the command audit trail,
/// operator commands, rules with their targets' state, rule decisions, and
/// alerts. Behind ``AdminAuthMiddleware`` like every admin route.
struct HealingController {
    let store: FleetStore
    let summaries: Summaries
    let hub: CommandHub
    let rules: [Rule]
    let deadline: Duration

    struct CommandList: Encodable { var commands: [CommandRecord] }
    struct AlertList: Encodable { var alerts: [Alert] }
    struct EventList: Encodable { var events: [RuleEvent] }

    /// `POST /v1/commands` body.
    struct CommandRequest: Decodable {
        var agentID: String
        var action: String
        var args: [String: CommandValue]?
        var deadlineSeconds: Double?
        enum CodingKeys: String, CodingKey {
            case agentID = "agent_id", action, args, deadlineSeconds = "deadline_seconds"
        }
    }

    struct RuleList: Encodable { var rules: [RuleState] }

    struct RuleState: Encodable {
        var name: String
        var scope: String
        var condition: String
        var action: String
        var actionArgs: [String: CommandValue]
        var revertAction: String?
        var cooldownSeconds: Int64
        var dryRun: Bool
        var targets: [TargetState]
        enum CodingKeys: String, CodingKey {
            case name, scope, condition, action, actionArgs = "action_args", revertAction = "revert_action"
            case cooldownSeconds = "cooldown_seconds", dryRun = "dry_run", targets
        }
    }

    struct TargetState: Encodable, Sendable {
        var target: String
        var agentID: String?
        var active: Bool
        var lastValue: Double?
        var lastFiredAt: String?
        var failures: Int
        var backoffUntil: String?
        var ineffective: Int
        var escalated: Bool
        var alert: String?
        enum CodingKeys: String, CodingKey {
            case target, agentID = "agent_id", active, lastValue = "last_value", lastFiredAt = "last_fired_at", failures
            case backoffUntil = "backoff_until", ineffective, escalated, alert
        }
    }

    func addRoutes(to router: Router<CollectorRequestContext>) {
        router.get("/v1/commands") { request, _ in
            try await list(request)
        }
        router.get("/v1/commands/{id}") { _, context in
            let id = try context.parameters.require("id")
            guard let command = try await store.command(id: id) else {
                throw HTTPError(.notFound, message: "no command \(id)")
            }
            return try JSONResponse.make(command)
        }
        router.post("/v1/commands") { request, context in
            try await queue(request, context: context)
        }
        router.get("/v1/alerts") { _, _ in
            try JSONResponse.make(AlertList(alerts: try await summaries.alerts()))
        }
        router.get("/v1/rules") { _, _ in
            try JSONResponse.make(RuleList(rules: try await ruleStates()))
        }
        router.get("/v1/rules/events") { request, _ in
            try await events(request)
        }
    }

    static func limit(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return 100 }
        guard let n = Int(text), n > 0 else { throw HTTPError(.badRequest, message: "limit: expected a positive integer") }
        return n
    }

    func list(_ request: Request) async throws -> Response {
        let q = request.uri.queryParameters
        let states = CommandRecord.openStates + CommandStatus.allCases.map(\.rawValue)
        let state = q.get("state").map { String($0) }
        if let state, !states.contains(state) {
            throw HTTPError(.badRequest, message: "state: \"\(state)\" is not one of \(states.joined(separator: ", "))")
        }
        let commands = try await store.commands(
            agent: q.get("agent").map { String($0) }, rule: q.get("rule").map { String($0) }, state: state,
            limit: try Self.limit(request))
        return try JSONResponse.make(CommandList(commands: commands))
    }

    func events(_ request: Request) async throws -> Response {
        let q = request.uri.queryParameters
        let events = try await summaries.ruleEvents(
            rule: q.get("rule").map { String($0) }, target: q.get("target").map { String($0) }, limit: try Self.limit(request))
        return try JSONResponse.make(EventList(events: events))
    }

    func queue(_ request: Request, context: CollectorRequestContext) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 64 * 1024)
        let parsed: CommandRequest
        do {
            parsed = try JSONDecoder().decode(CommandRequest.self, from: Data(body.readableBytesView))
        } catch {
            throw HTTPError(.badRequest, message: "expected {\"agent_id\": …, \"action\": …, \"args\": {…}}: \(error)")
        }
        guard AgentID.isValid(parsed.agentID) else {
            throw HTTPError(.badRequest, message: "agent_id: \"\(parsed.agentID.prefix(64))\" is not a valid agent id")
        }
        guard !parsed.action.isEmpty, parsed.action.utf8.count <= 64,
            parsed.action.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
        else {
            throw HTTPError(.badRequest, message: "action: expected 1–64 of a–z, 0–9, '_' or '-'")
        }
        let known = try await store.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM agents WHERE agent_id = ?", arguments: [parsed.agentID]) ?? false
        }
        guard known else { throw HTTPError(.notFound, message: "no agent \(parsed.agentID) has reported to this collector") }
        var wait = deadline
        if let seconds = parsed.deadlineSeconds {
            guard seconds.isFinite, seconds >= 1, seconds <= 7 * 86_400 else {
                throw HTTPError(.badRequest, message: "deadline_seconds: expected 1…604800")
            }
            wait = .milliseconds(Int64(seconds * 1000))
        }
        let who = await operatorIdentity(request, context: context)
        let record = try await store.queueCommand(
            NewCommand(
                agentID: parsed.agentID, action: parsed.action, args: parsed.args ?? [:], cause: "operator", rule: nil,
                target: nil, causedBy: who, deadline: wait),
            now: .now())
        await hub.queued(for: parsed.agentID)
        return try JSONResponse.make(record, status: .created)
    }

    /// The admin certificate's name, or the bearer token's digest prefix (never the token).
    func operatorIdentity(_ request: Request, context: CollectorRequestContext) async -> String {
        if case .admin(let name) = await context.peerIdentity() { return "operator \(name) (admin certificate)" }
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            let digest = AdminAuthMiddleware.digest(String(header.dropFirst("Bearer ".count)))
            return "operator token sha256:\(digest.prefix(12))"
        }
        return "operator (unknown)"
    }

    func ruleStates() async throws -> [RuleState] {
        let byRule = try await store.read { db in
            var byRule: [String: [TargetState]] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT rule, target, agent_id, active, last_value, last_fired_at, failures, backoff_until, ineffective,
                           escalated, alert FROM rule_targets ORDER BY rule, target
                    """)
            {
                byRule[row[0] as String, default: []].append(
                    TargetState(
                        target: row[1], agentID: row[2], active: row[3], lastValue: row[4],
                        lastFiredAt: (row[5] as Int64?).map { Timestamp(microsecondsSinceEpoch: $0).rfc3339 }, failures: row[6],
                        backoffUntil: (row[7] as Int64?).map { Timestamp(microsecondsSinceEpoch: $0).rfc3339 }, ineffective: row[8],
                        escalated: row[9], alert: row[10]))
            }
            return byRule
        }
        return rules.map { rule in
            RuleState(
                name: rule.name, scope: rule.scope.rawValue, condition: rule.conditionText, action: rule.action,
                actionArgs: rule.actionArgs, revertAction: rule.revertAction, cooldownSeconds: rule.cooldown.components.seconds,
                dryRun: rule.dryRun, targets: byRule[rule.name] ?? [])
        }
    }
}
