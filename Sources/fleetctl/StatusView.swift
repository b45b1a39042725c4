import Foundation

/// The `fleetctl status` screen, rendered from `GET /v1/fleet/summary`. A pure
/// function of the JSON, so its output can be checked against golden files.
enum StatusView {
    static func render(_ summary: [String: Any], collector: String) -> String {
        var lines: [String] = []
        let agents = summary["agents"] as? [String: Any] ?? [:]
        let online = agents["online"] as? Int ?? 0
        let stale = agents["stale"] as? Int ?? 0
        let offline = agents["offline"] as? Int ?? 0
        let generated = (summary["generated_at"] as? String).map { String($0.prefix(19)).replacingOccurrences(of: "T", with: " ") + " UTC" } ?? ""
        lines.append(Output.paint("Fleet", .bold) + "  \(collector)  \(generated)")
        lines.append("")
        var agentLine = "Agents     " + Output.paint("\(online) online", online > 0 ? .good : .dim)
            + " · " + Output.paint("\(stale) stale", stale > 0 ? .warn : .dim)
            + " · " + Output.paint("\(offline) offline", offline > 0 ? .bad : .dim)
        let down = agents["executor_down"] as? Int ?? 0
        let dropping = agents["dropping_events"] as? Int ?? 0
        if down > 0 { agentLine += "   " + Output.paint("executor down on \(down)", .bad) }
        if dropping > 0 { agentLine += "   " + Output.paint("\(dropping) dropping events", .bad) }
        lines.append(agentLine)
        func period(_ key: String, _ label: String) -> String {
            let p = summary[key] as? [String: Any] ?? [:]
            let rate = p["success_rate"] as? Double
            let tone: Output.Tone = rate.map { $0 >= 0.95 ? .good : $0 >= 0.8 ? .warn : .bad } ?? .dim
            return "\(label) \(Output.int(p["runs"])) runs, success " + Output.paint(Output.percent(rate), tone)
                + ", p95 \(Output.milliseconds(p["p95_duration_ms"]))"
        }
        lines.append("Runs       " + period("last_hour", "last hour:") + "   " + period("last_24h", "24 h:"))
        let stuck = summary["stuck"] as? Int ?? 0
        lines.append("Now        \(Output.int(summary["running"])) running · " + Output.paint("\(stuck) stuck", stuck > 0 ? .warn : .dim))
        let healing = summary["remediations"] as? [String: Any] ?? [:]
        lines.append(
            "Healing    \(Output.int(healing["in_flight"])) in flight · 24 h: \(Output.int(healing["fired_24h"])) fired, "
                + Output.paint("\(Output.int(healing["effective_24h"])) effective", .good) + ", "
                + "\(Output.int(healing["ineffective_24h"])) ineffective, \(Output.int(healing["failed_24h"])) failed")
        let alerts = summary["alerts"] as? [[String: Any]] ?? []
        if alerts.isEmpty {
            lines.append("Alerts     " + Output.paint("none", .good))
        } else {
            for (i, alert) in alerts.prefix(8).enumerated() {
                lines.append((i == 0 ? "Alerts     " : "           ") + Output.paint(Output.text(alert["message"]), .bad))
            }
            if alerts.count > 8 { lines.append("           … \(alerts.count - 8) more: fleetctl alerts") }
        }
        for (key, title) in [("worst_workflows", "Worst workflows (24 h)"), ("worst_environments", "Worst environments (24 h)")] {
            let groups = summary[key] as? [[String: Any]] ?? []
            guard !groups.isEmpty else { continue }
            lines.append("")
            lines.append(
                Output.table(
                    [title, "SUCCESS", "RUNS", "P95"],
                    groups.map { g in
                        [
                            "  " + Output.text(g["key"]), Output.percent(g["success_rate"]), Output.int(g["runs"]),
                            Output.milliseconds((g["duration"] as? [String: Any])?["p95_ms"]),
                        ]
                    }))
        }
        return lines.joined(separator: "\n")
    }
}
