import ArgumentParser
import Foundation

/// Options every summary read takes.
struct WindowOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The summary window: 1h, 24h or 7d.", valueName: "window")) var window: String = "1h"
    @Flag(name: .long, help: "Print JSON (the admin API's response; stable schema in docs/API.md).") var json = false

    func validate() throws {
        guard ["1h", "24h", "7d"].contains(window) else { throw ValidationError("--window must be 1h, 24h or 7d") }
    }
}

/// Fetches `path` and prints it as JSON or through `render`.
func show(_ connection: ConnectionOptions, _ path: String, json: Bool, _ render: @escaping ([String: Any]) -> String) async throws {
    try await withCollector(connection) { client in
        let data = try await client.get(path)
        if json { return try printJSON(data) }
        print(render(try jsonObject(data)))
    }
}

func escaped(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?&="))) ?? text
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "The fleet at a glance: agents, runs, success, p95, running and stuck executions, healing, alerts, worst workflows and environments.")
    @OptionGroup var connection: ConnectionOptions
    @Flag(name: .long, help: "Print JSON (GET /v1/fleet/summary; schema in docs/API.md).") var json = false

    func run() async throws {
        let collector = (try? connection.resolve().collector) ?? ""
        try await show(connection, "/v1/fleet/summary", json: json) { StatusView.render($0, collector: collector) }
    }
}

struct AgentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agents", abstract: "Every agent: liveness, last contact, executor, WAL backlog, dropped events.")
    @OptionGroup var connection: ConnectionOptions
    @Flag(name: .long, help: "Print JSON (GET /v1/agents).") var json = false

    func run() async throws {
        try await show(connection, "/v1/agents", json: json) { object in
            let agents = object["agents"] as? [[String: Any]] ?? []
            return Output.table(
                ["AGENT", "LIVENESS", "LAST SEEN", "EXECUTOR", "BACKLOG", "DROPPED", "LOST", "ENVIRONMENT"],
                agents.map { a in
                    let liveness = Output.text(a["liveness"])
                    return [
                        Output.text(a["agent_id"]),
                        Output.paint(liveness, liveness == "online" ? .good : liveness == "stale" ? .warn : .bad),
                        Output.time(a["last_seen"]),
                        (a["executor_alive"] as? Bool).map { $0 ? "alive" : Output.paint("down", .bad) } ?? "–",
                        Output.int(a["wal_backlog_events"]), Output.int(a["dropped_events"]), Output.int(a["lost_events"]),
                        Output.text(a["env_hash"]),
                    ]
                })
        }
    }
}

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent", abstract: "One agent: state, runs and step stages in the window, delivery.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The agent's id.") var id: String
    @OptionGroup var options: WindowOptions

    func run() async throws {
        try await show(connection, "/v1/agents/\(escaped(id))?window=\(options.window)", json: options.json) { object in
            let agent = object["agent"] as? [String: Any] ?? [:]
            var lines = [
                Output.paint(Output.text(agent["agent_id"]), .bold) + "  \(Output.text(agent["liveness"])), last seen \(Output.time(agent["last_seen"]))",
                "executor \((agent["executor_alive"] as? Bool).map { $0 ? "alive" : "down" } ?? "unknown"), "
                    + "WAL backlog \(Output.int(agent["wal_backlog_events"])) events, dropped \(Output.int(agent["dropped_events"])), lost \(Output.int(agent["lost_events"]))",
                "environment \(Output.text(agent["env_hash"]))",
            ]
            if let error = agent["last_error"] as? String { lines.append("last error: " + Output.paint(error, .bad)) }
            lines.append("")
            lines.append(RunsTable.render(object["runs"] as? [[String: Any]] ?? [], title: "RUNS (\(options.window))"))
            lines.append("")
            lines.append(StepsTable.render(object["steps"] as? [[String: Any]] ?? []))
            return lines.joined(separator: "\n")
        }
    }
}

enum RunsTable {
    static func render(_ groups: [[String: Any]], title: String) -> String {
        guard !groups.isEmpty else { return "\(title): none" }
        return Output.table(
            [title, "RUNS", "SUCCESS", "MEAN", "P50", "P95", "P99"],
            groups.map { g in
                let d = g["duration"] as? [String: Any] ?? [:]
                return [
                    Output.text(g["key"]), Output.int(g["runs"]), Output.percent(g["success_rate"]), Output.milliseconds(d["mean_ms"]),
                    Output.milliseconds(d["p50_ms"]), Output.milliseconds(d["p95_ms"]), Output.milliseconds(d["p99_ms"]),
                ]
            })
    }
}

enum StepsTable {
    static func render(_ steps: [[String: Any]]) -> String {
        guard !steps.isEmpty else { return "STEPS: none" }
        return Output.table(
            ["ACTION", "STEPS", "SUCCESS", "P95", "OCR P95", "UI P95", "ANALYZE P95", "CACHE HIT", "DEGRADED"],
            steps.map { s in
                [
                    Output.text(s["key"]), Output.int(s["steps"]), Output.percent(s["success_rate"]),
                    Output.milliseconds((s["duration"] as? [String: Any])?["p95_ms"]), Output.milliseconds(s["ocr_p95_ms"]),
                    Output.milliseconds(s["ui_p95_ms"]), Output.milliseconds(s["analyze_p95_ms"]), Output.percent(s["cache_hit_ratio"]),
                    Output.percent(s["degraded_ratio"]),
                ]
            })
    }
}

struct WorkflowsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workflows", abstract: "Runs, success rate and duration percentiles per workflow.")
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var options: WindowOptions

    func run() async throws {
        try await show(connection, "/v1/workflows?window=\(options.window)", json: options.json) { object in
            RunsTable.render(object["workflows"] as? [[String: Any]] ?? [], title: "WORKFLOW (\(options.window))")
        }
    }
}

struct WorkflowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflow", abstract: "One workflow: runs, step stages per action, recoveries, by agent and by environment.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The workflow's id.") var id: String
    @OptionGroup var options: WindowOptions

    func run() async throws {
        try await show(connection, "/v1/workflows/\(escaped(id))?window=\(options.window)", json: options.json) { object in
            var parts: [String] = []
            if let runs = object["runs"] as? [String: Any] { parts.append(RunsTable.render([runs], title: "WORKFLOW (\(options.window))")) }
            parts.append(StepsTable.render(object["steps"] as? [[String: Any]] ?? []))
            let recoveries = object["recoveries"] as? [[String: Any]] ?? []
            if !recoveries.isEmpty {
                parts.append(
                    Output.table(
                        ["RECOVERY STRATEGY", "ATTEMPTS", "SUCCESS"],
                        recoveries.map { [Output.text($0["strategy"]), Output.int($0["attempts"]), Output.percent($0["success_rate"])] }))
            }
            parts.append(RunsTable.render(object["by_agent"] as? [[String: Any]] ?? [], title: "BY AGENT"))
            parts.append(RunsTable.render(object["by_environment"] as? [[String: Any]] ?? [], title: "BY ENVIRONMENT"))
            return parts.joined(separator: "\n\n")
        }
    }
}

struct EnvsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "envs", abstract: "Environments (hashes of machine and software facts) and their success rates.",
        subcommands: [List.self, Diff.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Every environment with its agents and runs.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var options: WindowOptions

        func run() async throws {
            try await show(connection, "/v1/environments?window=\(options.window)", json: options.json) { object in
                let envs = object["environments"] as? [[String: Any]] ?? []
                return Output.table(
                    ["ENVIRONMENT", "AGENTS", "RUNS", "SUCCESS", "FACTS"],
                    envs.map { e in
                        let runs = e["runs"] as? [String: Any]
                        let facts = (e["facts"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\(Output.text($0.value))" }
                        return [
                            Output.text(e["env_hash"]), String((e["agents"] as? [Any])?.count ?? 0), Output.int(runs?["runs"]),
                            Output.percent(runs?["success_rate"]), facts.joined(separator: " "),
                        ]
                    })
            }
        }
    }

    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff", abstract: "The facts that separate environments where a workflow succeeds from those where it fails.")
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .long, help: "The workflow's id.") var workflow: String
        @OptionGroup var options: WindowOptions

        func run() async throws {
            let path = "/v1/environments/diff?workflow=\(escaped(workflow))&window=\(options.window)"
            try await show(connection, path, json: options.json) { object in
                let facts = object["facts"] as? [[String: Any]] ?? []
                guard !facts.isEmpty else { return "no fact separates the environments of \(workflow) (\(options.window))" }
                var rows: [[String]] = []
                for fact in facts {
                    for (i, value) in (fact["values"] as? [[String: Any]] ?? []).enumerated() {
                        rows.append([
                            i == 0 ? Output.text(fact["fact"]) : "", i == 0 ? Output.percent(fact["success_rate_spread"]) : "",
                            Output.text(value["value"]), Output.int(value["runs"]), Output.percent(value["success_rate"]),
                        ])
                    }
                }
                return Output.table(["FACT", "SPREAD", "VALUE", "RUNS", "SUCCESS"], rows)
            }
        }
    }
}

struct ExecutionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "executions", abstract: "Executions running now, or stuck (no step for longer than summaries.stuck_after).")
    @OptionGroup var connection: ConnectionOptions
    @Flag(name: .long, help: "Running executions (the default).") var running = false
    @Flag(name: .long, help: "Only stuck executions.") var stuck = false
    @Flag(name: .long, help: "Print JSON (GET /v1/executions).") var json = false

    func validate() throws {
        if running && stuck { throw ValidationError("give --running or --stuck, not both") }
    }

    func run() async throws {
        try await show(connection, "/v1/executions?state=\(stuck ? "stuck" : "running")", json: json) { object in
            let executions = object["executions"] as? [[String: Any]] ?? []
            guard !executions.isEmpty else { return stuck ? "no stuck executions" : "no running executions" }
            return Output.table(
                ["EXECUTION", "AGENT", "WORKFLOW", "STEPS", "PROGRESS", "ETA", "LAST STEP", ""],
                executions.map { e in
                    [
                        Output.text(e["execution_id"]), Output.text(e["agent_id"]), Output.text(e["workflow_id"]),
                        "\(Output.int(e["steps_done"]))/\(Output.int(e["total_steps"]))",
                        (e["progress_percent"] as? Double).map { String(format: "%.0f%%", $0) } ?? "–",
                        (e["eta_seconds"] as? Double).map { String(format: "%.0f s", $0) } ?? "–", Output.time(e["last_step_at"]),
                        (e["stuck"] as? Bool) == true ? Output.paint("stuck", .warn) : "",
                    ]
                })
        }
    }
}

struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "alerts", abstract: "Alerts standing now (alert rules, and remediations that did not help).")
    @OptionGroup var connection: ConnectionOptions
    @Flag(name: .long, help: "Print JSON (GET /v1/alerts).") var json = false

    func run() async throws {
        try await show(connection, "/v1/alerts", json: json) { object in
            let alerts = object["alerts"] as? [[String: Any]] ?? []
            guard !alerts.isEmpty else { return "no alerts" }
            return Output.table(
                ["SINCE", "RULE", "TARGET", "MESSAGE"],
                alerts.map { [Output.time($0["since"]), Output.text($0["rule"]), Output.text($0["target"]), Output.text($0["message"])] })
        }
    }
}
