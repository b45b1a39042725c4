import ArgumentParser
import FleetCore
import Foundation

/// `fleetctl commands`: the audit trail of commands, rule-caused and operators'.
struct CommandsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commands",
        abstract: "List commands sent to agents, newest first, with who or what caused them and how they ended.",
        discussion: """
            States: pending, delivered, running, succeeded, failed, refused, timed_out, expired.
            Effect (rule commands): effective or ineffective once the rule's value was measured again.
            --json prints the collector's GET /v1/commands response (docs/API.md).
            """)

    @OptionGroup var connection: ConnectionOptions
    @Option(name: .long, help: "Only this agent's commands.") var agent: String?
    @Option(name: .long, help: "Only commands of this rule.") var rule: String?
    @Option(name: .long, help: "Only commands in this state.") var state: String?
    @Option(name: .long, help: "At most this many.") var limit: Int = 50
    @Flag(name: .long, help: "Print JSON (stable schema, docs/API.md).") var json = false

    func run() async throws {
        var query = "?limit=\(limit)"
        for (key, value) in [("agent", agent), ("rule", rule), ("state", state)] {
            if let value { query += "&\(key)=\(value.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? value)" }
        }
        try await withCollector(connection) { client in
            let data = try await client.get("/v1/commands" + query)
            if json { return try printJSON(data) }
            let commands = try jsonObject(data)["commands"] as? [[String: Any]] ?? []
            guard !commands.isEmpty else { return print("no commands") }
            print(
                Output.table(
                    ["CREATED", "ID", "AGENT", "ACTION", "STATE", "EFFECT", "CAUSE"],
                    commands.map { c in
                        [
                            Output.time(c["created_at"]), Output.text(c["id"]), Output.text(c["agent_id"]),
                            Output.text(c["action"]) + ((c["revert"] as? Bool) == true ? " (revert)" : ""),
                            CommandsCommand.paintState(Output.text(c["state"])), Output.text(c["effect"] ?? nil),
                            Output.text(c["caused_by"]),
                        ]
                    }))
        }
    }

    static func paintState(_ state: String) -> String {
        switch state {
        case "succeeded": Output.paint(state, .good)
        case "failed", "refused", "timed_out", "expired": Output.paint(state, .bad)
        default: Output.paint(state, .warn)
        }
    }
}

/// `fleetctl recover AGENT ACTION`: an operator's command, audited with the operator's identity.
struct RecoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Send a recovery command to an agent (it runs only if the agent's own agent.toml allows it).",
        discussion: """
            Examples:
              fleetctl recover pc-017 set_flags --arg degraded=true
              fleetctl recover pc-017 restart_executor --wait
            Argument values are typed: true/false, integers, numbers, else strings.
            With --wait, waits for the result and exits 1 unless it succeeded.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The agent's id.") var agent: String
    @Argument(help: "The action: set_flags, clean_cache, flush, reload_config, run_diagnostics or an exec name.") var action: String
    @Option(name: .customLong("arg"), help: ArgumentHelp("An argument, repeatable.", valueName: "key=value")) var args: [String] = []
    @Flag(name: .long, help: "Wait for the command's result and show it.") var wait = false
    @Option(name: .long, help: "Seconds to wait with --wait.") var timeout: Double = 120
    @Option(name: .long, help: "Seconds before the command expires if not run.") var deadline: Double?
    @Flag(name: .long, help: "Print JSON (the command record, docs/API.md).") var json = false

    func validate() throws {
        for arg in args where !arg.contains("=") || arg.hasPrefix("=") {
            throw ValidationError("--arg \(arg): expected key=value")
        }
    }

    func run() async throws {
        var typed: [String: Any] = [:]
        for arg in args {
            let parts = arg.split(separator: "=", maxSplits: 1)
            let value = CommandValue(parsing: parts.count > 1 ? String(parts[1]) : "")
            switch value {
            case .bool(let b): typed[String(parts[0])] = b
            case .int(let i): typed[String(parts[0])] = i
            case .double(let d): typed[String(parts[0])] = d
            case .string(let s): typed[String(parts[0])] = s
            }
        }
        var body: [String: Any] = ["agent_id": agent, "action": action, "args": typed]
        if let deadline { body["deadline_seconds"] = deadline }
        try await withCollector(connection) { client in
            var data = try await client.post("/v1/commands", json: body)
            var command = try jsonObject(data)
            let id = Output.text(command["id"])
            if !json { print("queued \(id): \(action) on \(agent)") }
            if wait {
                let end = Date().addingTimeInterval(timeout)
                let open: Set<String> = ["pending", "delivered", "running"]
                var last = ""
                while open.contains(Output.text(command["state"])) {
                    guard Date() < end else { throw FleetctlError.failed("no result within \(Int(timeout)) s; the command is \(Output.text(command["state"]))") }
                    let state = Output.text(command["state"])
                    if !json && state != last && Output.colour { print("  \(state)…") }
                    last = state
                    try await Task.sleep(for: .milliseconds(500))
                    data = try await client.get("/v1/commands/\(id)")
                    command = try jsonObject(data)
                }
            }
            if json { return try printJSON(data) }
            if wait {
                let state = Output.text(command["state"])
                print("\(CommandsCommand.paintState(state)) in \(Output.milliseconds(command["duration_ms"]))")
                if let reason = command["reason"] as? String { print("reason: \(reason)") }
                if let output = command["output_tail"] as? String, !output.isEmpty { print(output) }
                if state != "succeeded" { throw ExitStatus.failure }
            }
        }
    }
}

/// `fleetctl rules`: the configured rules, each target's state, and (with --events) their decisions.
struct RulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Self-healing rules with their targets' state; --events lists their decisions (dry runs included).",
        discussion: """
            Decisions: fired, dry_run, suppressed (fleet cap), alert, cleared, reverted, effective, ineffective,
            escalated, backoff. --json prints GET /v1/rules (or /v1/rules/events with --events).
            """)

    @OptionGroup var connection: ConnectionOptions
    @Flag(name: .long, help: "List rule decisions, newest first, instead of the rules.") var events = false
    @Option(name: .long, help: "Only this rule.") var rule: String?
    @Option(name: .long, help: "At most this many decisions.") var limit: Int = 50
    @Flag(name: .long, help: "Print JSON (docs/API.md).") var json = false

    func run() async throws {
        if events {
            var path = "/v1/rules/events?limit=\(limit)"
            if let rule { path += "&rule=\(escaped(rule))" }
            try await show(connection, path, json: json) { object in
                let events = object["events"] as? [[String: Any]] ?? []
                guard !events.isEmpty else { return "no rule decisions yet" }
                return Output.table(
                    ["AT", "RULE", "TARGET", "DECISION", "DETAIL"],
                    events.map { e in
                        [Output.time(e["at"]), Output.text(e["rule"]), Output.text(e["target"]), Output.text(e["kind"]), Output.text(e["detail"])]
                    })
            }
            return
        }
        try await show(connection, "/v1/rules", json: json) { object in
            let rules = (object["rules"] as? [[String: Any]] ?? []).filter { rule == nil || $0["name"] as? String == rule }
            guard !rules.isEmpty else { return "no rules configured" }
            var lines: [String] = []
            for r in rules {
                let dry = (r["dry_run"] as? Bool) == true ? Output.paint(" (dry run)", .warn) : ""
                lines.append(Output.paint(Output.text(r["name"]), .bold) + dry + ": when \(Output.text(r["condition"])) → \(Output.text(r["action"]))")
                let targets = r["targets"] as? [[String: Any]] ?? []
                if targets.isEmpty { continue }
                lines.append(
                    Output.table(
                        ["  TARGET", "VALUE", "ACTIVE", "LAST FIRED", "INEFFECTIVE", "STATE"],
                        targets.map { t in
                            let state = (t["escalated"] as? Bool) == true ? Output.paint("escalated", .bad)
                                : (t["alert"] as? String) != nil ? Output.paint("alert", .warn)
                                : (t["backoff_until"] as? String) != nil ? "backoff" : "ok"
                            return [
                                "  " + Output.text(t["target"]), Output.text(t["last_value"]), Output.text(t["active"]),
                                Output.time(t["last_fired_at"]), Output.int(t["ineffective"]), state,
                            ]
                        }))
            }
            return lines.joined(separator: "\n")
        }
    }
}
