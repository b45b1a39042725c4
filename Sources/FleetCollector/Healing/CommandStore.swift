import FleetCore
import GRDB

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A command as the audit trail keeps it (`GET /v1/commands`).
public struct CommandRecord: Sendable, Hashable, Encodable {
    public var id: String
    public var agentID: String
    public var action: String
    public var args: [String: CommandValue]
    /// `rule` or `operator`.
    public var cause: String
    @NullEncoded public var rule: String?
    @NullEncoded public var target: String?
    /// The rule with the values that fired it, or the operator's identity.
    public var causedBy: String
    public var isRevert: Bool
    public var createdAt: Timestamp
    public var deadline: Timestamp
    /// pending, delivered, running, succeeded, failed, refused, timed_out, expired.
    public var state: String
    public var stateAt: Timestamp
    public var deliveries: Int
    @NullEncoded public var finishedAt: Timestamp?
    @NullEncoded public var exitCode: Int?
    @NullEncoded public var outputTail: String?
    @NullEncoded public var reason: String?
    @NullEncoded public var durationMs: Double?
    @NullEncoded public var valueBefore: Double?
    @NullEncoded public var valueAfter: Double?
    /// `effective` or `ineffective` once measured (rule commands only).
    @NullEncoded public var effect: String?

    enum CodingKeys: String, CodingKey {
        case id, agentID = "agent_id", action, args, cause, rule, target, causedBy = "caused_by", isRevert = "revert"
        case createdAt = "created_at", deadline, state, stateAt = "state_at", deliveries, finishedAt = "finished_at"
        case exitCode = "exit_code", outputTail = "output_tail", reason, durationMs = "duration_ms"
        case valueBefore = "value_before", valueAfter = "value_after", effect
    }

    static let columns = """
        command_id, agent_id, action, args, cause, rule, target, caused_by, is_revert, created_at, deadline, state, state_at,
        deliveries, finished_at, exit_code, output_tail, reason, duration_ms, value_before, value_after, effect
        """

    init(row: Row) {
        id = row[0]
        agentID = row[1]
        action = row[2]
        args = (try? JSONDecoder().decode([String: CommandValue].self, from: Data((row[3] as String).utf8))) ?? [:]
        cause = row[4]
        rule = row[5]
        target = row[6]
        causedBy = row[7]
        isRevert = row[8]
        createdAt = Timestamp(microsecondsSinceEpoch: row[9])
        deadline = Timestamp(microsecondsSinceEpoch: row[10])
        state = row[11]
        stateAt = Timestamp(microsecondsSinceEpoch: row[12])
        deliveries = row[13]
        finishedAt = (row[14] as Int64?).map(Timestamp.init(microsecondsSinceEpoch:))
        exitCode = row[15]
        outputTail = row[16]
        reason = row[17]
        durationMs = row[18]
        valueBefore = row[19]
        valueAfter = row[20]
        effect = row[21]
    }

    /// The states in which a command still counts as in flight.
    static let openStates = ["pending", "delivered", "running"]
}

/// `WHERE a = ? AND b = ?` for the filters that are set.
struct SQLFilter {
    let columns: [String]
    let arguments: StatementArguments

    init(_ filters: [(column: String, value: String?)]) {
        let set = filters.compactMap { f in f.value.map { (f.column, $0) } }
        columns = set.map(\.0)
        arguments = StatementArguments(set.map(\.1))
    }

    var whereClause: String {
        columns.isEmpty ? "" : " WHERE " + columns.map { "\($0) = ?" }.joined(separator: " AND ")
    }
}

/// A command to queue.
struct NewCommand: Sendable {
    var agentID: String
    var action: String
    var args: [String: CommandValue]
    var cause: String
    var rule: String?
    var target: String?
    var causedBy: String
    var isRevert = false
    var deadline: Duration
    var valueBefore: Double?
}

enum CommandID {
    /// `cmd-` and 24 random hex digits.
    static func make() -> String {
        var rng = SystemRandomNumberGenerator()
        let a = rng.next() as UInt64
        let b = rng.next() as UInt32
        return "cmd-" + hex(a, 16) + hex(UInt64(b), 8)
    }

    private static func hex(_ v: UInt64, _ digits: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, digits - s.count)) + s
    }
}

extension FleetStore {
    /// Inserts a pending command in the caller's transaction.
    static func insertCommand(_ db: Database, _ new: NewCommand, now: Int64) throws -> String {
        let id = CommandID.make()
        let deadline = now + new.deadline.microseconds
        try db.execute(
            sql: """
                INSERT INTO commands (command_id, agent_id, action, args, cause, rule, target, caused_by, is_revert, created_at,
                                      deadline, state, state_at, value_before)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)
                """,
            arguments: [
                id, new.agentID, new.action, JSONText.encode(new.args), new.cause, new.rule, new.target, new.causedBy,
                new.isRevert, now, deadline, now, new.valueBefore,
            ])
        return id
    }

    /// Queues an operator's command.
    func queueCommand(_ new: NewCommand, now: Timestamp) async throws -> CommandRecord {
        try await pool.write { db in
            let id = try Self.insertCommand(db, new, now: now.microsecondsSinceEpoch)
            guard let record = try Self.command(db, id: id) else { throw DatabaseError(message: "command \(id) vanished") }
            return record
        }
    }

    static func command(_ db: Database, id: String) throws -> CommandRecord? {
        try Row.fetchOne(db, sql: "SELECT \(CommandRecord.columns) FROM commands WHERE command_id = ?", arguments: [id])
            .map(CommandRecord.init(row:))
    }

    public func command(id: String) async throws -> CommandRecord? {
        try await pool.read { db in try Self.command(db, id: id) }
    }

    /// The audit trail, newest first.
    public func commands(agent: String? = nil, rule: String? = nil, state: String? = nil, limit: Int = 100) async throws -> [CommandRecord] {
        let filter = SQLFilter([("agent_id", agent), ("rule", rule), ("state", state)])
        let query = "SELECT \(CommandRecord.columns) FROM commands\(filter.whereClause) ORDER BY created_at DESC, command_id LIMIT \(max(1, min(limit, 10_000)))"
        let values = filter.arguments
        return try await pool.read { db in
            try Row.fetchAll(db, sql: query, arguments: values).map(CommandRecord.init(row:))
        }
    }

    /// Commands to hand to `agent` now: pending ones, and delivered ones still without a result
    /// after `redeliverAfter` (at least once; the agent runs each id at most once). Marks them delivered.
    func takeCommands(agent: String, now: Timestamp, redeliverAfter: Duration) async throws -> [FleetCommand] {
        let t = now.microsecondsSinceEpoch
        let again = t - redeliverAfter.microseconds
        return try await pool.write { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT command_id, action, args, deadline FROM commands
                    WHERE agent_id = ? AND deadline > ?
                      AND (state = 'pending' OR (state = 'delivered' AND delivered_at <= ?))
                    ORDER BY created_at, command_id
                    """, arguments: [agent, t, again])
            var commands: [FleetCommand] = []
            for row in rows {
                let id: String = row[0]
                let args = (try? JSONDecoder().decode([String: CommandValue].self, from: Data((row[2] as String).utf8))) ?? [:]
                commands.append(FleetCommand(id: id, action: row[1], args: args, deadline: Timestamp(microsecondsSinceEpoch: row[3])))
                try db.execute(
                    sql: """
                        UPDATE commands SET state = 'delivered', state_at = CASE state WHEN 'pending' THEN ? ELSE state_at END,
                            delivered_at = ?, deliveries = deliveries + 1
                        WHERE command_id = ?
                        """, arguments: [t, t, id])
            }
            return commands
        }
    }

    /// Agents with commands waiting for delivery (to prime the hub at start).
    func agentsWithOpenCommands() async throws -> Set<String> {
        try await pool.read { db in
            Set(try String.fetchAll(db, sql: "SELECT DISTINCT agent_id FROM commands WHERE state IN ('pending', 'delivered')"))
        }
    }

    /// Commands past their deadline that never reported a final state become `expired`
    /// (`running` ones after a further `grace`, for the agent's own timeout to report first).
    func expireCommands(now: Timestamp, grace: Duration) async throws -> Int {
        let t = now.microsecondsSinceEpoch
        return try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE commands SET state = 'expired', state_at = ?, finished_at = ?,
                        reason = coalesce(reason, 'no result from the agent before the deadline')
                    WHERE (state IN ('pending', 'delivered') AND deadline <= ?) OR (state = 'running' AND deadline <= ?)
                    """, arguments: [t, t, t, t - grace.microseconds])
            return db.changesCount
        }
    }
}

extension Merger {
    /// A `command_result` moves its command along; a final state is never replaced.
    func applyCommandResult(_ e: CommandResult, agent: String, ts: Int64) throws {
        if e.status == .running {
            try db.cachedStatement(
                sql: """
                    UPDATE commands SET state = 'running', state_at = ?
                    WHERE command_id = ? AND agent_id = ? AND state IN ('pending', 'delivered')
                    """
            ).execute(arguments: [ts, e.commandID, agent])
        } else {
            try db.cachedStatement(
                sql: """
                    UPDATE commands SET state = ?, state_at = ?, finished_at = ?, exit_code = ?, output_tail = ?, reason = ?,
                        duration_ms = ?
                    WHERE command_id = ? AND agent_id = ? AND state IN ('pending', 'delivered', 'running', 'expired')
                    """
            ).execute(arguments: [
                e.status.rawValue, ts, ts, e.exitCode, e.outputTail, e.reason, e.durationMs, e.commandID, agent,
            ])
        }
    }
}
