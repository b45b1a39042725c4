import ArgumentParser
import FleetCore
import Foundation

/// `fleetctl report`: a self-contained HTML report (inline SVG charts, no
/// script, nothing fetched when it is opened).
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write an HTML report: success rate over time, p95 by stage, failures by environment, remediations and their effect.",
        discussion: "The file is self-contained: open it anywhere, offline. Progress goes to standard error.")

    @OptionGroup var connection: ConnectionOptions
    @Option(name: .long, help: ArgumentHelp("How far back: e.g. 24h, 7d, 30d.", valueName: "duration")) var since: String = "7d"
    @Option(name: .long, help: "The HTML file to write.") var out: String = "report.html"
    @Option(name: .long, help: "Points on the time charts.") var points: Int = 28

    func validate() throws {
        guard let d = ConfigValues.duration(since), d >= .seconds(3600), d <= .seconds(90 * 86_400) else {
            throw ValidationError("--since: a duration from 1h to 90d, e.g. 7d")
        }
        guard (2...200).contains(points) else { throw ValidationError("--points: 2…200") }
    }

    func run() async throws {
        let span = ConfigValues.duration(since) ?? .seconds(7 * 86_400)
        let now = Timestamp.now().microsecondsSinceEpoch
        let from = now - Int64(span.components.seconds) * 1_000_000
        let step = (now - from) / Int64(points)
        try await withCollector(connection) { client in
            let progress = Progress(total: points + 2)
            var slices: [ReportData.Slice] = []
            for i in 0..<points {
                let a = from + Int64(i) * step
                let b = i == points - 1 ? now : a + step
                let data = try await client.get("/v1/report/slice?from=\(Self.rfc(a))&to=\(Self.rfc(b))")
                let object = try jsonObject(data)
                let runs = object["runs"] as? [String: Any]
                let stages = object["stages"] as? [String: Any]
                slices.append(
                    ReportData.Slice(
                        start: a, runs: runs?["runs"] as? Int ?? 0, successRate: runs?["success_rate"] as? Double,
                        ocrP95: stages?["ocr_p95_ms"] as? Double, uiP95: stages?["ui_p95_ms"] as? Double,
                        analyzeP95: stages?["analyze_p95_ms"] as? Double))
                progress.advance("time series")
            }
            let envs = try jsonObject(try await client.get("/v1/environments?from=\(Self.rfc(from))&to=\(Self.rfc(now))"))
            progress.advance("environments")
            let commands = try jsonObject(try await client.get("/v1/commands?limit=10000"))
            progress.advance("remediations")
            let report = ReportData(
                from: from, to: now, slices: slices, environments: envs["environments"] as? [[String: Any]] ?? [],
                commands: (commands["commands"] as? [[String: Any]] ?? []).filter {
                    (($0["created_at"] as? String).flatMap(Timestamp.init(rfc3339:))?.microsecondsSinceEpoch ?? 0) >= from
                }, collector: client.settings.collector)
            do {
                try Data(ReportHTML.render(report).utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
            } catch {
                throw FleetctlError.failed("cannot write \(out): \(error.localizedDescription)")
            }
            progress.finish()
            print("wrote \(out)")
        }
    }

    static func rfc(_ micros: Int64) -> String {
        Timestamp(microsecondsSinceEpoch: micros).rfc3339.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }
}

/// Progress on standard error: a rewritten line on a terminal, nothing otherwise.
final class Progress {
    let total: Int
    var done = 0
    let terminal = isatty(2) == 1

    init(total: Int) { self.total = total }

    func advance(_ what: String) {
        done += 1
        guard terminal else { return }
        var stderr = StandardErrorStream()
        print("\rreport: \(done)/\(total) \(what)\u{1B}[K", terminator: "", to: &stderr)
    }

    func finish() {
        guard terminal else { return }
        var stderr = StandardErrorStream()
        print("\r\u{1B}[K", terminator: "", to: &stderr)
    }
}

struct ReportData {
    struct Slice {
        var start: Int64
        var runs: Int
        var successRate: Double?
        var ocrP95: Double?
        var uiP95: Double?
        var analyzeP95: Double?
    }

    var from: Int64
    var to: Int64
    var slices: [Slice]
    var environments: [[String: Any]]
    var commands: [[String: Any]]
    var collector: String
}

enum ReportHTML {
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func render(_ r: ReportData) -> String {
        let fromText = String(Timestamp(microsecondsSinceEpoch: r.from).rfc3339.prefix(16)).replacingOccurrences(of: "T", with: " ")
        let toText = String(Timestamp(microsecondsSinceEpoch: r.to).rfc3339.prefix(16)).replacingOccurrences(of: "T", with: " ")
        let labels = r.slices.map { String(Timestamp(microsecondsSinceEpoch: $0.start).rfc3339.dropFirst(5).prefix(11)).replacingOccurrences(of: "T", with: " ") }
        let totalRuns = r.slices.reduce(0) { $0 + $1.runs }
        let success = lineChart(
            [("success rate", "#2a9d8f", r.slices.map { $0.successRate.map { $0 * 100 } })], labels: labels, unit: "%", fixedMax: 100)
        let stages = lineChart(
            [
                ("ocr p95", "#457b9d", r.slices.map(\.ocrP95)), ("ui p95", "#e9c46a", r.slices.map(\.uiP95)),
                ("analyze p95", "#e76f51", r.slices.map(\.analyzeP95)),
            ], labels: labels, unit: " ms", fixedMax: nil)
        let failures = r.environments.map { env -> (String, Double) in
            let runs = env["runs"] as? [String: Any]
            let failed = (runs?["runs"] as? Int ?? 0) - (runs?["successes"] as? Int ?? 0)
            let facts = (env["facts"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }.prefix(3).map { "\($0.key)=\($0.value)" }
            return ("\(env["env_hash"] as? String ?? "?") \(facts.joined(separator: " "))", Double(failed))
        }.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }.prefix(12)
        var byRule: [String: (fired: Int, effective: Int, ineffective: Int, failed: Int)] = [:]
        for c in r.commands where c["cause"] as? String == "rule" && (c["revert"] as? Bool) != true {
            let rule = c["rule"] as? String ?? "?"
            byRule[rule, default: (0, 0, 0, 0)].fired += 1
            switch c["effect"] as? String {
            case "effective": byRule[rule, default: (0, 0, 0, 0)].effective += 1
            case "ineffective": byRule[rule, default: (0, 0, 0, 0)].ineffective += 1
            case "not_applied": byRule[rule, default: (0, 0, 0, 0)].failed += 1
            default: break
            }
        }
        let remediationRows = byRule.sorted { $0.key < $1.key }.map { rule, n in
            "<tr><td>\(escape(rule))</td><td>\(n.fired)</td><td class=good>\(n.effective)</td><td class=bad>\(n.ineffective)</td><td>\(n.failed)</td></tr>"
        }.joined()
        let recent = r.commands.prefix(25).map { c in
            "<tr><td>\(escape(String((c["created_at"] as? String ?? "").prefix(19))))</td><td>\(escape(c["agent_id"] as? String ?? ""))</td>"
                + "<td>\(escape(c["action"] as? String ?? ""))</td><td>\(escape(c["state"] as? String ?? ""))</td>"
                + "<td>\(escape(c["effect"] as? String ?? "–"))</td><td>\(escape(c["caused_by"] as? String ?? ""))</td></tr>"
        }.joined()
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Fleet report \(escape(fromText)) – \(escape(toText))</title>
            <style>
            body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
            h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
            table{border-collapse:collapse;width:100%}td,th{padding:.25rem .5rem;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
            .good{color:#2a9d8f}.bad{color:#c0392b}.muted{color:#777}svg{width:100%;height:auto;background:#fafafa}
            </style></head><body>
            <h1>Fleet report</h1>
            <p class=muted>\(escape(fromText)) – \(escape(toText)) UTC · collector \(escape(r.collector)) · \(totalRuns) finished executions</p>
            <h2>Success rate over time</h2>\(success)
            <h2>p95 by stage</h2>\(stages)
            <h2>Failures by environment</h2>\(failures.isEmpty ? "<p class=muted>No failures.</p>" : barChart(Array(failures)))
            <h2>Remediations and their effect</h2>
            \(remediationRows.isEmpty ? "<p class=muted>No rule-caused remediation in this period.</p>" : "<table><tr><th>rule</th><th>fired</th><th>effective</th><th>ineffective</th><th>not applied</th></tr>\(remediationRows)</table>")
            \(recent.isEmpty ? "" : "<h2>Latest commands</h2><table><tr><th>created</th><th>agent</th><th>action</th><th>state</th><th>effect</th><th>cause</th></tr>\(recent)</table>")
            </body></html>
            """
    }

    /// Lines over the time slices; gaps where a value is unknown.
    static func lineChart(_ series: [(String, String, [Double?])], labels: [String], unit: String, fixedMax: Double?) -> String {
        let width = 1000.0
        let height = 280.0
        let left = 60.0
        let bottom = 40.0
        let top = 20.0
        let values = series.flatMap { $0.2.compactMap { $0 } }
        guard !values.isEmpty else { return "<p class=muted>No data in this period.</p>" }
        let maxValue = fixedMax ?? max(1, (values.max() ?? 1) * 1.1)
        let n = max(1, labels.count - 1)
        func x(_ i: Int) -> Double { left + (width - left - 20) * Double(i) / Double(n) }
        func y(_ v: Double) -> Double { top + (height - top - bottom) * (1 - v / maxValue) }
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" xmlns=\"http://www.w3.org/2000/svg\" role=img>"
        for k in 0...4 {
            let v = maxValue * Double(k) / 4
            svg += "<line x1=\"\(left)\" x2=\"\(width - 20)\" y1=\"\(y(v))\" y2=\"\(y(v))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y(v) + 4)\" font-size=\"11\" text-anchor=\"end\">\(Int(v))\(escape(unit))</text>"
        }
        let every = max(1, labels.count / 7)
        for (i, label) in labels.enumerated() where i % every == 0 {
            svg += "<text x=\"\(x(i))\" y=\"\(height - 12)\" font-size=\"11\" text-anchor=\"middle\">\(escape(label))</text>"
        }
        for (s, (name, colour, points)) in series.enumerated() {
            var segment: [String] = []
            func flush() {
                if segment.count > 1 { svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2.5\" points=\"\(segment.joined(separator: " "))\"/>" }
                segment.removeAll()
            }
            for (i, value) in points.enumerated() {
                if let value {
                    segment.append("\(x(i)),\(y(value))")
                    svg += "<circle cx=\"\(x(i))\" cy=\"\(y(value))\" r=\"3\" fill=\"\(colour)\"/>"
                } else {
                    flush()
                }
            }
            flush()
            svg += "<rect x=\"\(left + 10 + Double(s) * 150)\" y=\"4\" width=\"12\" height=\"12\" fill=\"\(colour)\"/>"
            svg += "<text x=\"\(left + 28 + Double(s) * 150)\" y=\"14\" font-size=\"12\">\(escape(name))</text>"
        }
        return svg + "</svg>"
    }

    static func barChart(_ items: [(String, Double)]) -> String {
        let rowHeight = 26.0
        let width = 1000.0
        let labelWidth = 420.0
        let maxValue = max(1, items.map(\.1).max() ?? 1)
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(rowHeight * Double(items.count) + 10))\" xmlns=\"http://www.w3.org/2000/svg\" role=img>"
        for (i, (label, value)) in items.enumerated() {
            let y = 5 + Double(i) * rowHeight
            let w = (width - labelWidth - 60) * value / maxValue
            svg += "<text x=\"0\" y=\"\(y + 16)\" font-size=\"12\">\(escape(String(label.prefix(60))))</text>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(max(1, w))\" height=\"\(rowHeight - 8)\" fill=\"#c0392b\"/>"
            svg += "<text x=\"\(labelWidth + w + 6)\" y=\"\(y + 16)\" font-size=\"12\">\(Int(value))</text>"
        }
        return svg + "</svg>"
    }
}
