import AsyncHTTPClient
import FleetCollector
import FleetCore
import FleetTestSupport
import Foundation
import Testing

/// Generates a small fleet's events, sends them over real mutual TLS, and
/// checks the collector's numbers against values computed here from the
/// same events.
@Suite("Summaries against independently computed values")
struct SummaryTests {
    struct Fleet {
        var batches: [Batch] = []
        /// (workflow, env, agent, success, duration ms) of each finished execution.
        var finished: [(workflow: String, env: String, agent: String, success: Bool, durationMs: Double)] = []
        var stepTotals: [String: [Double]] = [:]
        var analyze: [String: [Double]] = [:]
        var runningExecution = "running-1"
        var runningDone = 3
        var runningTotal = 8
        var meanStepMsByNumber: [Int: [Double]] = [:]
        var stuckExecution = "stuck-1"
    }

    static let environments: [String: [String: String]] = [
        "pc-1": ["os": "Windows 11", "dpi": "96", "ocr_model": "v4"],
        "pc-2": ["os": "Windows 11", "dpi": "144", "ocr_model": "v4"],
        "pc-3": ["os": "Windows 11", "dpi": "144", "ocr_model": "v4"],
    ]

    static func makeFleet() -> Fleet {
        var rng = SplitMix64(seed: 42)
        var fleet = Fleet()
        let now = Timestamp.now().microsecondsSinceEpoch
        let start = now - 50 * 60 * 1_000_000
        for agent in ["pc-1", "pc-2", "pc-3"] {
            var log = RecordLog()
            func add(_ ts: Int64, _ payload: EventPayload) { log.append(ts, payload) }
            var t = start
            add(t, .environment(EnvironmentFacts(facts: environments[agent] ?? [:])))
            add(t, .resourceSample(ResourceSample(cpuPercent: 20, memoryUsedBytes: 1, memoryTotalBytes: 2, diskFreeBytes: 3, executorAlive: agent != "pc-3")))
            let env = EnvironmentHash(facts: environments[agent] ?? [:]).hex
            for run in 0..<(agent == "pc-3" ? 5 : 30) {
                let workflow = run % 3 == 0 ? "payroll" : "invoice"
                let id = "\(agent)-\(run)"
                let steps = Int(rng.next() % 6) + 3
                add(t, .executionStarted(ExecutionStarted(executionID: id, workflowID: workflow, totalSteps: steps)))
                let execStart = t
                // pc-2 (dpi 144) fails invoice far more often.
                let failProbability = agent == "pc-2" && workflow == "invoice" ? 60 : 10
                let success = Int(rng.next() % 100) >= failProbability
                for n in 1...steps {
                    let total = Double(rng.next() % 900_000 + 50_000) / 1000
                    let analyzeMs = Double(rng.next() % 400_000) / 1000
                    let stepStart = t
                    t += Int64(total * 1000)
                    add(
                        t,
                        .stepFinished(
                            StepFinished(
                                executionID: id, workflowID: workflow, nodeID: "n\(n)", stepNumber: n,
                                actionType: n % 2 == 0 ? "click" : "type",
                                startedAt: Timestamp(microsecondsSinceEpoch: stepStart), finishedAt: Timestamp(microsecondsSinceEpoch: t),
                                success: true, analyzeMs: analyzeMs, totalMs: total, cacheHit: n % 4 == 0)))
                    fleet.stepTotals[n % 2 == 0 ? "click" : "type", default: []].append(total)
                    fleet.analyze[n % 2 == 0 ? "click" : "type", default: []].append(analyzeMs)
                    if workflow == "invoice" { fleet.meanStepMsByNumber[n, default: []].append(total) }
                }
                let duration = Double(t - execStart) / 1000
                add(
                    t,
                    .executionFinished(
                        ExecutionFinished(
                            executionID: id, workflowID: workflow, status: success ? .success : .failed, totalSteps: steps,
                            stepsCompleted: success ? steps : steps - 1, stepsFailed: success ? 0 : 1, durationMs: duration)))
                fleet.finished.append((workflow, env, agent, success, duration))
                t += 5_000_000
            }
            if agent == "pc-2" {
                // Started long ago, last step 40 minutes ago: stuck (summaries.stuck_after is 10 minutes).
                add(start, .executionStarted(ExecutionStarted(executionID: fleet.stuckExecution, workflowID: "payroll", totalSteps: 4)))
            }
            if agent == "pc-1" {
                // Recent: a live run, 3 of 8 steps done.
                t = now - 2_000_000
                add(t, .executionStarted(ExecutionStarted(executionID: fleet.runningExecution, workflowID: "invoice", totalSteps: fleet.runningTotal)))
                for n in 1...fleet.runningDone {
                    t += 100_000
                    add(
                        t,
                        .stepFinished(
                            StepFinished(
                                executionID: fleet.runningExecution, workflowID: "invoice", nodeID: "n\(n)", stepNumber: n,
                                actionType: "click", startedAt: Timestamp(microsecondsSinceEpoch: t - 100_000),
                                finishedAt: Timestamp(microsecondsSinceEpoch: t), success: true, totalMs: 100)))
                    fleet.meanStepMsByNumber[n, default: []].append(100)
                    fleet.stepTotals["click", default: []].append(100)
                }
            }
            fleet.batches.append(Batch(agentID: agent, epoch: WALEpoch(rawValue: 1), records: log.records))
        }
        return fleet
    }

    /// Percentile as HDR reports it: the value at rank ceil(p·n), within 0.1 % (three significant digits).
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        let rank = max(1, Int((p / 100 * Double(sorted.count)).rounded(.up)))
        return sorted[min(rank, sorted.count) - 1]
    }

    static func close(_ a: Double?, _ b: Double, tolerance: Double = 0.002) -> Bool {
        guard let a else { return false }
        return abs(a - b) <= max(0.002, abs(b) * tolerance)
    }

    @Test("success rates, percentiles, stage p95s, ETA and liveness match; min sample gives null and NaN")
    func summariesMatch() async throws {
        let fleet = Self.makeFleet()
        try await TestCollector.with(agents: ["pc-1", "pc-2", "pc-3"]) { test in
            for batch in fleet.batches {
                let client = try test.agentClient(batch.agentID)
                let reply = try await test.send(client, batch)
                #expect(reply.status == 200, "\(reply.body)")
                try await client.shutdown()
            }
            let summaries = test.collector.summaries
            let window = try #require(SummaryWindow.last("1h", now: .now()))

            // Per workflow.
            let workflows = try await summaries.runs(by: .workflow, window: window)
            for w in workflows {
                let runs = fleet.finished.filter { $0.workflow == w.key }
                #expect(w.runs == runs.count)
                #expect(w.successes == runs.filter(\.success).count)
                #expect(Self.close(w.successRate, Double(runs.filter(\.success).count) / Double(runs.count)))
                let durations = runs.map(\.durationMs)
                #expect(Self.close(w.duration?.p95Ms, Self.percentile(durations, 95)), "p95 \(w.key)")
                #expect(Self.close(w.duration?.p50Ms, Self.percentile(durations, 50)), "p50 \(w.key)")
                #expect(Self.close(w.duration?.meanMs, durations.reduce(0, +) / Double(durations.count)))
            }
            #expect(workflows.map(\.key) == ["invoice", "payroll"])

            // Per agent: pc-3 has 5 runs, under the minimum sample of 10: unknown, not 0.
            let agents = try await summaries.runs(by: .agent, window: window)
            let pc3 = try #require(agents.first { $0.key == "pc-3" })
            #expect(pc3.runs == 5)
            #expect(pc3.successRate == nil)

            // Per action: stage p95 and cache-hit ratio.
            for s in try await summaries.steps(window: window) {
                #expect(s.steps == fleet.stepTotals[s.key]?.count)
                #expect(Self.close(s.duration?.p95Ms, Self.percentile(fleet.stepTotals[s.key] ?? [], 95)))
                #expect(Self.close(s.analyzeP95Ms, Self.percentile(fleet.analyze[s.key] ?? [], 95)))
            }

            // Running execution: 3 of 8 steps, ETA = mean durations of steps 4...8 from history.
            let running = try await summaries.running()
            let r = try #require(running.first { $0.executionID == fleet.runningExecution })
            #expect(r.stepsDone == 3)
            #expect(Self.close(r.progressPercent, 37.5))
            var eta = 0.0
            for n in 4...8 {
                let values = fleet.meanStepMsByNumber[n] ?? []
                let all = fleet.meanStepMsByNumber.values.flatMap { $0 }
                eta += values.isEmpty ? all.reduce(0, +) / Double(all.count) : values.reduce(0, +) / Double(values.count)
            }
            #expect(Self.close(r.etaSeconds, eta / 1000, tolerance: 1e-6))
            #expect(!r.stuck)
            let stuck = try await summaries.running(onlyStuck: true)
            #expect(stuck.map(\.executionID) == [fleet.stuckExecution])

            // Liveness and executor state.
            let agentSummaries = try await summaries.agents()
            #expect(agentSummaries.allSatisfy { $0.liveness == .online })
            #expect(agentSummaries.first { $0.agentID == "pc-3" }?.executorAlive == false)

            // Environment diff: dpi separates success from failure for invoice.
            let diff = try await summaries.environmentDiff(workflow: "invoice", window: window)
            #expect(diff.facts.first?.fact == "dpi")
            #expect(!diff.facts.contains { $0.fact == "os" })

            // The JSON API says null for pc-3's success rate; /metrics says NaN, and promtool accepts it.
            let admin = try test.adminClient()
            let agentReply = try await test.admin(admin, "/v1/agents/pc-3")
            #expect(agentReply.status == 200)
            #expect(agentReply.body.contains("\"success_rate\":null"))
            let metrics = try await test.admin(admin, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains("fleet_agents{state=\"online\"} 3"))
            #expect(metrics.body.contains("fleet_agent_executor_alive{agent=\"pc-3\"} 0"))
            try Self.promtoolCheck(metrics.body)
            for path in ["/v1/fleet/summary", "/v1/workflows", "/v1/workflows/invoice", "/v1/environments",
                         "/v1/environments/diff?workflow=invoice", "/v1/executions?state=running", "/v1/executions/pc-1-0",
                         "/v1/executions?state=stuck", "/v1/workflows?window=7d"] {
                #expect(try await test.admin(admin, path).status == 200, "\(path)")
            }
            #expect(try await test.admin(admin, "/v1/workflows?window=2y").status == 400)
            #expect(try await test.admin(admin, "/v1/agents/nobody").status == 404)
            #expect(try await test.admin(admin, "/v1/environments/diff").status == 400)
            try await admin.shutdown()
        }
    }

    /// `promtool check metrics` (Debian package prometheus) on a real scrape.
    static func promtoolCheck(_ body: String) throws {
        let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let promtool else {
            Issue.record("promtool not found: install the Debian package prometheus (deploy/install-deps --test does)")
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: promtool)
        process.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(body.utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "promtool: \(text)")
    }
}
