import FleetCore
import Hummingbird
import NIOCore

/// `GET /metrics` on the admin listener: fleet summaries in the Prometheus
/// text format. Open or token-protected per `admin.metrics_auth`. Windowed
/// families carry `window="1h"` and `window="24h"`; a success ratio below the
/// minimum sample is `NaN`, never 0.
struct MetricsController {
    let summaries: Summaries
    let pipeline: IngestPipeline

    func addRoutes(to router: Router<CollectorRequestContext>) {
        router.get("/metrics") { _, _ in
            let body = try await render()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
    }

    func render() async throws -> String {
        var p = PrometheusText()
        let now = summaries.now
        let agents = try await summaries.agents()

        p.family("fleet_agents", .gauge, help: "Agents by liveness: online, stale or offline from their last contact.")
        for state in Liveness.allCases {
            p.sample("fleet_agents", ["state": state.rawValue], Double(agents.filter { $0.liveness == state }.count))
        }
        p.family("fleet_agent_up", .gauge, help: "1 if the agent was in contact within summaries.online_within, else 0.")
        p.family("fleet_agent_last_seen_timestamp_seconds", .gauge, help: "Unix time of the agent's last batch.")
        p.family("fleet_agent_executor_alive", .gauge, help: "1 if the latest resource sample saw the executor running, 0 if not, NaN if unknown.")
        p.family("fleet_agent_wal_backlog_events", .gauge, help: "Events in the agent's WAL not yet acknowledged, as the agent reported.")
        p.family("fleet_agent_dropped_events", .gauge, help: "Events the agent dropped at its WAL byte cap in its current epoch, as reported.")
        p.family("fleet_agent_lost_events", .gauge, help: "Events the agent found corrupt in its WAL in its current epoch, as reported.")
        for a in agents {
            let labels: KeyValuePairs<String, String> = ["agent": a.agentID]
            p.sample("fleet_agent_up", labels, a.liveness == .online ? 1 : 0)
            p.sample("fleet_agent_last_seen_timestamp_seconds", labels, a.lastSeen.secondsSinceEpoch)
            p.sample("fleet_agent_executor_alive", labels, a.executorAlive.map { $0 ? 1 : 0 })
            p.sample("fleet_agent_wal_backlog_events", labels, a.walBacklogEvents.map(Double.init))
            p.sample("fleet_agent_dropped_events", labels, a.droppedEvents.map(Double.init))
            p.sample("fleet_agent_lost_events", labels, a.lostEvents.map(Double.init))
        }

        p.family("fleet_workflow_runs", .gauge, help: "Executions of the workflow that finished in the window.")
        p.family("fleet_workflow_success_ratio", .gauge, help: "Share of the window's runs that succeeded; NaN below summaries.min_sample runs.")
        p.family("fleet_workflow_duration_seconds", .summary, help: "Durations of the window's finished runs.")
        p.family("fleet_environment_success_ratio", .gauge, help: "Success ratio of runs attributed to the environment; NaN below the minimum sample.")
        p.family("fleet_step_stage_p95_seconds", .gauge, help: "95th percentile of a perception stage (ocr, ui, analyze) per step action.")
        p.family("fleet_step_cache_hit_ratio", .gauge, help: "Share of steps served from the executor's cache, per action.")
        p.family("fleet_step_degraded_ratio", .gauge, help: "Share of steps run in degraded mode, per action.")
        for name in ["1h", "24h"] {
            guard let window = SummaryWindow.last(name, now: now) else { continue }
            for w in try await summaries.runs(by: .workflow, window: window) {
                p.sample("fleet_workflow_runs", ["workflow": w.key, "window": name], Double(w.runs))
                p.sample("fleet_workflow_success_ratio", ["workflow": w.key, "window": name], w.successRate)
                if let d = w.duration {
                    for (q, v) in [("0.5", d.p50Ms), ("0.95", d.p95Ms), ("0.99", d.p99Ms)] {
                        p.sample("fleet_workflow_duration_seconds", ["workflow": w.key, "window": name, "quantile": q], v / 1000)
                    }
                    p.sample("fleet_workflow_duration_seconds_sum", ["workflow": w.key, "window": name], d.meanMs * Double(d.count) / 1000)
                    p.sample("fleet_workflow_duration_seconds_count", ["workflow": w.key, "window": name], Double(d.count))
                }
            }
            for e in try await summaries.runs(by: .environment, window: window) {
                p.sample("fleet_environment_success_ratio", ["env": e.key, "window": name], e.successRate)
            }
            for s in try await summaries.steps(window: window) {
                for (stage, v) in [("ocr", s.ocrP95Ms), ("ui", s.uiP95Ms), ("analyze", s.analyzeP95Ms)] {
                    p.sample("fleet_step_stage_p95_seconds", ["action": s.key, "stage": stage, "window": name], v.map { $0 / 1000 })
                }
                p.sample("fleet_step_cache_hit_ratio", ["action": s.key, "window": name], s.cacheHitRatio)
                p.sample("fleet_step_degraded_ratio", ["action": s.key, "window": name], s.degradedRatio)
            }
        }

        let running = try await summaries.running()
        p.family("fleet_executions_running", .gauge, help: "Executions started and not finished.")
        p.sample("fleet_executions_running", [:], Double(running.count))
        p.family("fleet_executions_stuck", .gauge, help: "Running executions with no step for longer than summaries.stuck_after.")
        p.sample("fleet_executions_stuck", [:], Double(running.filter(\.stuck).count))
        let healing = try await summaries.remediations()
        p.family("fleet_remediations_in_flight", .gauge, help: "Commands pending, delivered or running.")
        p.sample("fleet_remediations_in_flight", [:], Double(healing.inFlight))
        p.family("fleet_remediations_24h", .gauge, help: "Rule-caused commands created in the last 24 hours, by outcome.")
        for (outcome, n) in [
            ("fired", healing.fired24h), ("effective", healing.effective24h), ("ineffective", healing.ineffective24h),
            ("failed", healing.failed24h),
        ] {
            p.sample("fleet_remediations_24h", ["outcome": outcome], Double(n))
        }
        let alerts = try await summaries.alerts()
        p.family("fleet_alerts", .gauge, help: "Alerts standing now, by rule (alert rules, and targets a rule stopped acting on).")
        for rule in Set(alerts.map(\.rule)).sorted() {
            p.sample("fleet_alerts", ["rule": rule], Double(alerts.filter { $0.rule == rule }.count))
        }
        p.family("fleet_ingest_queue_depth", .gauge, help: "Batches waiting for the collector's writer.")
        p.sample("fleet_ingest_queue_depth", [:], Double(pipeline.queueDepth))
        return p.text
    }
}
