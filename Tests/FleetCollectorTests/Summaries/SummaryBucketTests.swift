@testable import FleetCollector
import FleetCore
import FleetTestSupport
import GRDB
import Testing

/// The summary buckets against the events they came from: any window, any
/// grouping, whether the events arrived in one batch or many out of order.
@Suite("Summary buckets")
struct SummaryBucketTests {
    @Test(
        "a window plan covers the window exactly once",
        arguments: [SummaryBuckets.spans, SummaryBuckets.agentSpans])
    func planPartitionsWindow(spans: [Int64]) {
        var rng = SplitMix64(seed: 5)
        let base: Int64 = 1_790_000_000_000_000
        for _ in 0..<2_000 {
            let from = base + Int64(rng.next() % 200_000_000_000)
            let to = from + Int64(rng.next() % 400_000_000_000)
            // Some days have current day buckets, others must be read from their hours.
            let day = SummaryBuckets.day
            let builtDays = Set(stride(from: BucketAccumulator.floor(from, day), to: to, by: Int(day)).filter { _ in rng.next() % 2 == 0 })
            let plan = WindowPlan(
                window: SummaryWindow(from: Timestamp(microsecondsSinceEpoch: from), to: Timestamp(microsecondsSinceEpoch: to)),
                builtDays: builtDays, spans: spans)
            var pieces: [Range<Int64>] = plan.raw
            for b in plan.buckets {
                #expect(b.from % b.span == 0 && b.to % b.span == 0)
                // Only spans the dimension has.
                #expect(b.span == day || spans.contains(b.span))
                if b.span == day {
                    #expect(stride(from: b.from, to: b.to, by: Int(day)).allSatisfy { builtDays.contains($0) })
                } else {
                    // Hours and five-minute slots never stand in for a whole built day.
                    #expect(builtDays.allSatisfy { !(b.from <= $0 && $0 + day <= b.to) })
                }
                pieces.append(b.from..<b.to)
            }
            // Every built day wholly inside the window is read from its day bucket.
            for d in builtDays where from <= d && d + day <= to {
                #expect(plan.buckets.contains { $0.span == day && $0.from <= d && d < $0.to })
            }
            pieces.sort { $0.lowerBound < $1.lowerBound }
            var cursor = from
            for piece in pieces where !piece.isEmpty {
                #expect(piece.lowerBound == cursor)
                cursor = piece.upperBound
            }
            #expect(cursor == max(from, to) || from == to)
            // What is read raw is under the finest span at each end: under two in all.
            #expect(plan.raw.map(\.count).reduce(0, +) < 2 * Int(spans.min() ?? 0))
        }
    }

    struct Run {
        var workflow: String
        var agent: String
        var finishedAt: Int64
        var success: Bool
        var durationMs: Double
    }

    struct Step {
        var workflow: String
        var agent: String
        var action: String
        var finishedAt: Int64
        var totalMs: Double
        var analyzeMs: Double
    }

    @Test("bucketed summaries equal values computed from the events, for random windows")
    func bucketsMatchEvents() async throws {
        var rng = SplitMix64(seed: 77)
        let hour: Int64 = 3_600_000_000
        let day = SummaryBuckets.day
        let now = Timestamp.now().microsecondsSinceEpoch
        // 30 hours holding the whole of yesterday (UTC), whose day buckets get built.
        let start = BucketAccumulator.floor(now, day) - 26 * hour
        let end = start + 30 * hour
        var runs: [Run] = []
        var steps: [Step] = []
        var batches: [Batch] = []

        /// Executions of `agent` finishing in `from..<to`, recorded in `runs` and `steps` too.
        func generate(agent: String, from: Int64, to: Int64) -> [Batch.Record] {
            var log = RecordLog()
            var t = from + Int64(rng.next() % 600_000_000)
            var n = 0
            while t < to - 60_000_000 {
                n += 1
                let workflow = ["invoice", "payroll", "crm"][Int(rng.next() % 3)]
                let id = "\(agent)-\(n)"
                log.append(t, .executionStarted(ExecutionStarted(executionID: id, workflowID: workflow)))
                let t0 = t
                for s in 1...Int(rng.next() % 6 + 1) {
                    let total = Double(rng.next() % 3_000_000) / 1000
                    let analyze = Double(rng.next() % 900_000) / 1000
                    t += Int64(total * 1000)
                    let action = s % 2 == 0 ? "click" : "type"
                    log.append(
                        t,
                        .stepFinished(
                            StepFinished(
                                executionID: id, workflowID: workflow, nodeID: "n\(s)", stepNumber: s, actionType: action,
                                startedAt: Timestamp(microsecondsSinceEpoch: t - Int64(total * 1000)),
                                finishedAt: Timestamp(microsecondsSinceEpoch: t), success: true, analyzeMs: analyze,
                                totalMs: total)))
                    steps.append(Step(workflow: workflow, agent: agent, action: action, finishedAt: t, totalMs: total, analyzeMs: analyze))
                }
                let success = rng.next() % 5 != 0
                let duration = Double(t - t0) / 1000
                log.append(
                    t,
                    .executionFinished(
                        ExecutionFinished(
                            executionID: id, workflowID: workflow, status: success ? .success : .failed, stepsCompleted: 1,
                            stepsFailed: 0, durationMs: duration)))
                runs.append(Run(workflow: workflow, agent: agent, finishedAt: t, success: success, durationMs: duration))
                t += Int64(rng.next() % 240_000_000)
            }
            return log.records
        }

        for agent in ["pc-1", "pc-2", "pc-3", "pc-4"] {
            let records = generate(agent: agent, from: start, to: end)
            // Out of order and in pieces, with one piece sent twice, and first a batch overlapping
            // the two last pieces, so each of them arrives with some records already committed.
            var pieces: [[Batch.Record]] = stride(from: 0, to: records.count, by: 97).map { Array(records[$0..<min($0 + 97, records.count)]) }
            pieces.reverse()
            pieces.append(pieces[1])
            pieces.insert(Array(pieces[1].suffix(40) + pieces[0].prefix(40)), at: 0)
            batches += pieces.map { Batch(agentID: agent, epoch: WALEpoch(rawValue: 11), records: $0) }
        }
        let store = try FleetStore(path: temporaryDirectory("fleet-buckets") + "/fleet.sqlite")
        for batch in batches { _ = try await store.merge([ReceivedBatch(batch: batch)]) }
        var settings = CollectorConfiguration.Summaries()
        settings.minSample = 1
        let summaries = Summaries(store: store, settings: settings)

        func check(rounds: Int, longWindows: Bool = false) async throws {
            for round in 0..<rounds {
                let from = start + Int64(rng.next() % UInt64(28 * hour))
                var to = round % 4 == 0 ? end : from + Int64(rng.next() % UInt64(10 * hour))
                if longWindows && round % 2 == 1 { to = min(end, from + 24 * hour + Int64(rng.next() % UInt64(6 * hour))) }
                let window = SummaryWindow(from: Timestamp(microsecondsSinceEpoch: from), to: Timestamp(microsecondsSinceEpoch: to))
                let inWindow = runs.filter { $0.finishedAt >= from && $0.finishedAt < to }
                for summary in try await summaries.runs(by: .workflow, window: window) {
                    let expected = inWindow.filter { $0.workflow == summary.key }
                    #expect(summary.runs == expected.count)
                    #expect(summary.successes == expected.filter(\.success).count)
                    #expect(SummaryTests.close(summary.duration?.p95Ms, SummaryTests.percentile(expected.map(\.durationMs), 95)))
                }
                #expect(Set(try await summaries.runs(by: .workflow, window: window).map(\.key)) == Set(inWindow.map(\.workflow)))
                let byAgent = try await summaries.runs(by: .agent, window: window, workflow: "invoice")
                for summary in byAgent {
                    #expect(summary.runs == inWindow.filter { $0.workflow == "invoice" && $0.agent == summary.key }.count)
                }
                for summary in try await summaries.runs(by: .agent, window: window) {
                    let expected = inWindow.filter { $0.agent == summary.key }
                    #expect(summary.runs == expected.count)
                    #expect(SummaryTests.close(summary.duration?.p95Ms, SummaryTests.percentile(expected.map(\.durationMs), 95)))
                }
                let fleet = try await summaries.runs(by: .fleet, window: window).first
                #expect((fleet?.runs ?? 0) == inWindow.count)

                let stepsInWindow = steps.filter { $0.finishedAt >= from && $0.finishedAt < to }
                for summary in try await summaries.steps(window: window, agent: "pc-2") {
                    let expected = stepsInWindow.filter { $0.agent == "pc-2" && $0.action == summary.key }
                    #expect(summary.steps == expected.count)
                    #expect(SummaryTests.close(summary.duration?.p95Ms, SummaryTests.percentile(expected.map(\.totalMs), 95)))
                    #expect(SummaryTests.close(summary.analyzeP95Ms, SummaryTests.percentile(expected.map(\.analyzeMs), 95)))
                    #expect(SummaryTests.close(summary.duration?.meanMs, expected.map(\.totalMs).reduce(0, +) / Double(expected.count), tolerance: 1e-9))
                }
                // A workflow and an agent together: no bucket holds the pair, raw rows only.
                for summary in try await summaries.steps(window: window, workflow: "invoice", agent: "pc-2") {
                    let expected = stepsInWindow.filter { $0.workflow == "invoice" && $0.agent == "pc-2" && $0.action == summary.key }
                    #expect(summary.steps == expected.count)
                }
                for workflow in [nil, "invoice"] as [String?] {
                    for summary in try await summaries.steps(window: window, workflow: workflow) {
                        let expected = stepsInWindow.filter { (workflow == nil || $0.workflow == workflow) && $0.action == summary.key }
                        #expect(summary.steps == expected.count, "\(workflow ?? "fleet") \(summary.key)")
                        #expect(SummaryTests.close(summary.duration?.p95Ms, SummaryTests.percentile(expected.map(\.totalMs), 95)))
                    }
                }
            }
        }

        // Hours only; then yesterday from its day buckets; then a late batch for yesterday (its day
        // buckets are stale: read from the hours again); then yesterday rebuilt.
        func deltaRows() async throws -> Int {
            try await store.read { db in
                try Int.fetchOne(db, sql: "SELECT (SELECT count(*) FROM run_bucket_deltas) + (SELECT count(*) FROM step_bucket_deltas)") ?? -1
            }
        }
        // Nothing folded yet: the merges' deltas alone.
        #expect(try await deltaRows() > 0)
        try await check(rounds: 15)
        #expect(try await store.compactDays(now: Timestamp(microsecondsSinceEpoch: now)) == 2)
        #expect(try await deltaRows() == 0)
        try await check(rounds: 15, longWindows: true)
        let yesterday = BucketAccumulator.floor(now, day) - day
        let late = generate(agent: "pc-5", from: yesterday + 3 * hour, to: yesterday + 9 * hour)
        _ = try await store.merge([ReceivedBatch(batch: Batch(agentID: "pc-5", epoch: WALEpoch(rawValue: 11), records: late))])
        try await check(rounds: 15, longWindows: true)
        #expect(try await store.compactDays(now: Timestamp(microsecondsSinceEpoch: now)) == 1)
        try await check(rounds: 15, longWindows: true)
    }
}
