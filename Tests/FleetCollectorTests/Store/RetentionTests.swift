import FleetTestSupport
import FleetCollector
import FleetCore
import GRDB
import Logging
import Testing

@Suite("Retention deletes raw rows; hourly buckets keep the summaries")
struct RetentionTests {
    @Test("summaries over a range are the same before and after retention; raw rows and fine buckets are gone")
    func rollupKeepsSummaries() async throws {
        let dir = temporaryDirectory("fleet-retention")
        let store = try FleetStore(path: dir + "/fleet.sqlite")
        let now = Timestamp.now()
        let day: Int64 = 86_400_000_000
        let old = now.microsecondsSinceEpoch - 40 * day
        var log = RecordLog()
        var rng = SplitMix64(seed: 9)
        for run in 0..<60 {
            let t0 = old + Int64(run) * 600_000_000
            let id = "ex-\(run)"
            log.append(t0, .executionStarted(ExecutionStarted(executionID: id, workflowID: "invoice")))
            var t = t0
            for n in 1...5 {
                let total = Double(rng.next() % 2_000_000) / 1000
                t += Int64(total * 1000)
                log.append(
                    t,
                    .stepFinished(
                        StepFinished(
                            executionID: id, workflowID: "invoice", nodeID: "n\(n)", stepNumber: n, actionType: "click",
                            startedAt: Timestamp(microsecondsSinceEpoch: t - Int64(total * 1000)),
                            finishedAt: Timestamp(microsecondsSinceEpoch: t), success: n != 5 || run % 4 != 0,
                            analyzeMs: total / 2, totalMs: total, cacheHit: n == 2)))
            }
            log.append(
                t,
                .executionFinished(
                    ExecutionFinished(
                        executionID: id, workflowID: "invoice", status: run % 4 == 0 ? .failed : .success,
                        stepsCompleted: 5, stepsFailed: run % 4 == 0 ? 1 : 0, durationMs: Double(t - t0) / 1000)))
        }
        _ = try await store.merge([ReceivedBatch(batch: Batch(agentID: "pc-1", epoch: WALEpoch(rawValue: 3), records: log.records))])

        var settings = CollectorConfiguration.Summaries()
        settings.minSample = 10
        let summaries = Summaries(store: store, settings: settings)
        let window = SummaryWindow(from: Timestamp(microsecondsSinceEpoch: old - day), to: Timestamp(microsecondsSinceEpoch: old + 2 * day))
        let runsBefore = try await summaries.runs(by: .workflow, window: window)
        let stepsBefore = try await summaries.steps(window: window)

        let service = RetentionService(store: store, retention: .seconds(30 * 86_400), logger: Logger(label: "test"))
        let report = try await service.runOnce(chunk: 37)
        #expect(report.steps == 300)
        #expect(report.executions == 60)

        let queue = try DatabaseQueue(path: dir + "/fleet.sqlite")
        let rawSteps = try await queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM steps") ?? -1 }
        let hourly = try await queue.read { db in
            try Int.fetchOne(db, sql: "SELECT sum(steps) FROM step_buckets WHERE dim = 'fleet' AND span = 3600000000") ?? -1
        }
        let fine = try await queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM step_buckets WHERE span = 300000000") ?? -1 }
        #expect(rawSteps == 0)
        #expect(hourly == 300)
        #expect(fine == 0)

        let runsAfter = try await summaries.runs(by: .workflow, window: window)
        let stepsAfter = try await summaries.steps(window: window)
        #expect(runsAfter.map(\.runs) == runsBefore.map(\.runs))
        #expect(runsAfter.map(\.successes) == runsBefore.map(\.successes))
        #expect(runsAfter.first?.successRate == runsBefore.first?.successRate)
        // Same HDR buckets: the percentiles agree to the histogram's resolution.
        #expect(runsAfter.first?.duration?.p95Ms == runsBefore.first?.duration?.p95Ms)
        #expect(stepsAfter.first?.steps == stepsBefore.first?.steps)
        #expect(stepsAfter.first?.duration?.p95Ms == stepsBefore.first?.duration?.p95Ms)
        #expect(stepsAfter.first?.analyzeP95Ms == stepsBefore.first?.analyzeP95Ms)
        #expect(stepsAfter.first?.cacheHitRatio == stepsBefore.first?.cacheHitRatio)
        // A second pass finds nothing more and changes nothing.
        #expect(try await service.runOnce() == RetentionService.Report())
        #expect(try await summaries.runs(by: .workflow, window: window).map(\.runs) == runsBefore.map(\.runs))
    }
}
