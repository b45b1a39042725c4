import Benchmark
import BenchmarkSupport
import FleetCollector
import FleetCore
import Foundation
import Synchronization

/// Registers the collector benchmarks; the boilerplate the BenchmarkPlugin
/// generates calls it.
let benchmarks: @Sendable () -> Void = {
    IngestBenchmark.register(synchronousFull: true)
    IngestBenchmark.register(synchronousFull: false)
    SummaryBenchmark.registerAll()
}

extension RunReport {
    /// Adds `lines` to this run's collector report and prints it.
    static func add(_ lines: [Line]) {
        add(
            lines, directory: SummaryStore.cacheDirectory,
            title: "Fleet collector benchmarks, this run so far (medians)")
    }
}

/// Durable ingest over mutual TLS from 50 concurrent agents, against the
/// raw `sqlite3` bulk insert of the same rows in the same iteration.
enum IngestBenchmark {
    static let warmupRounds = 1
    static let measuredRounds = 8

    /// Events per second acknowledged (so committed) by the collector.
    static let ingestRate = BenchmarkMetric.custom("Ingest (events/s)", polarity: .prefersLarger, useScalingFactor: false)
    /// Rows per second of the `sqlite3` CLI importing the same number of rows.
    static let rawRate = BenchmarkMetric.custom("Raw sqlite3 (rows/s)", polarity: .prefersLarger, useScalingFactor: false)
    /// Ingest rate over raw rate, in per mille (1000 = as fast as the raw insert).
    static let ratio = BenchmarkMetric.custom("Ingest/raw (per mille)", polarity: .prefersLarger, useScalingFactor: false)

    /// The ingest goal of the issue, in events per second.
    static let goalEventsPerSecond = 300_000.0
    /// The goal for ingest over raw.
    static let goalRatio = 0.5

    static func register(synchronousFull: Bool) {
        let mode = synchronousFull ? "full" : "normal"
        let shape = IngestFixture.Shape(rounds: warmupRounds + measuredRounds)
        let name = "Ingest \(shape.agents) agents mTLS, synchronous=\(mode), vs raw sqlite3"
        let metrics = [ingestRate, rawRate, ratio]
        let box = SetupBox<IngestFixture>()
        Benchmark(
            name,
            configuration: .counts(
                metrics, warmupIterations: warmupRounds, maxIterations: measuredRounds, maxDuration: .seconds(150))
        ) { benchmark, fixture in
            let measuredRound = benchmark.currentIteration >= warmupRounds
            let round = try await fixture.run(round: benchmark.currentIteration, measuredRound: measuredRound)
            benchmark.measurement(ingestRate, Int(round.ingestEventsPerSecond.rounded()))
            benchmark.measurement(rawRate, Int(round.rawRowsPerSecond.rounded()))
            benchmark.measurement(ratio, Int((round.ratio * 1000).rounded()))
        } setup: {
            box.keep(try await IngestFixture.make(shape: shape, synchronousFull: synchronousFull))
        } teardown: {
            guard let fixture = box.take() else { return }
            // Charge the bucket work the rounds left for the next fold.
            let finalFold = try? await fixture.foldRemaining()
            await fixture.finish()
            let rounds = fixture.measured.withLock { $0 }
            guard !rounds.isEmpty, let finalFold else { return }
            let median = Figures.median(rounds.map(\.ingestEventsPerSecond))
            let events = Double(rounds.map(\.events).reduce(0, +))
            let ingestSeconds = rounds.map(\.ingest.inSeconds).reduce(0, +) + finalFold.inSeconds
            let ingest = events / ingestSeconds
            let raw = events / rounds.map(\.raw.inSeconds).reduce(0, +)
            let ratio = ingest / raw
            let per = "\(rounds.count) rounds of \(Figures.grouped(Double(shape.eventsPerRound))) events"
            RunReport.add(
                [
                    .init(benchmark: name, figure: "ingest, \(per), median round", value: Figures.grouped(median) + " events/s", goal: ""),
                    .init(
                        benchmark: name,
                        figure: "ingest sustained: all rounds + folding their bucket deltas (\(Figures.fixed(finalFold.inSeconds, 2)) s)",
                        value: Figures.grouped(ingest) + " events/s",
                        goal: "≥ \(Figures.grouped(goalEventsPerSecond)) events/s: "
                            + Figures.verdict(ingest >= goalEventsPerSecond)),
                    .init(
                        benchmark: name, figure: "raw sqlite3 .import, same rows, one transaction per round",
                        value: Figures.grouped(raw) + " rows/s", goal: ""),
                    .init(
                        benchmark: name, figure: "ingest sustained / raw",
                        value: Figures.fixed(ratio * 100, 1) + " %",
                        goal: "≥ \(Figures.grouped(goalRatio * 100)) %: " + Figures.verdict(ratio >= goalRatio)),
                ])
        }
    }
}

/// Latency of one summary call on the cached store of `SummaryStore`.
enum SummaryBenchmark {
    /// The goal of the issue for one summary call.
    static let goalMilliseconds = 100.0

    /// How long one call is waited for before it is abandoned and reported
    /// as "did not finish": `FLEET_SUMMARY_CALL_LIMIT` seconds, default 90.
    static let callLimit: Duration = {
        let seconds = ProcessInfo.processInfo.environment["FLEET_SUMMARY_CALL_LIMIT"].flatMap(Int.init) ?? 90
        return .seconds(max(1, seconds))
    }()

    // Every call the collector's API makes for its summary pages, on the
    // 10 M-step store; a call count and a time budget per benchmark.
    static func registerAll() {
        register("fleet()", warmup: 1, calls: 10, budget: .seconds(30)) { summaries, _ in
            _ = try await summaries.fleet()
        }
        register("running() (1000 running executions)", warmup: 1, calls: 10, budget: .seconds(30)) { summaries, _ in
            _ = try await summaries.running()
        }
        register("runs(by: .workflow, window: 24h)", warmup: 1, calls: 10, budget: .seconds(15)) { summaries, now in
            _ = try await summaries.runs(by: .workflow, window: window("24h", now))
        }
        register("runs(by: .workflow, window: 7d)", warmup: 1, calls: 10, budget: .seconds(20)) { summaries, now in
            _ = try await summaries.runs(by: .workflow, window: window("7d", now))
        }
        register("runs(by: .agent, window: 24h)", warmup: 1, calls: 10, budget: .seconds(20)) { summaries, now in
            _ = try await summaries.runs(by: .agent, window: window("24h", now))
        }
        register("runs(by: .environment, window: 24h, workflow:)", warmup: 1, calls: 10, budget: .seconds(20)) { summaries, now in
            _ = try await summaries.runs(by: .environment, window: window("24h", now), workflow: "bank-statement-import-v2")
        }
        register("steps(window: 1h)", warmup: 1, calls: 10, budget: .seconds(25)) { summaries, now in
            _ = try await summaries.steps(window: window("1h", now))
        }
        register("steps(window: 7d)", warmup: 1, calls: 10, budget: .seconds(20)) { summaries, now in
            _ = try await summaries.steps(window: window("7d", now))
        }
        register("steps(window: 7d, workflow:)", warmup: 1, calls: 10, budget: .seconds(20)) { summaries, now in
            _ = try await summaries.steps(window: window("7d", now), workflow: "bank-statement-import-v2")
        }
        register("steps(window: 24h, agent:)", warmup: 1, calls: 10, budget: .seconds(20)) { summaries, now in
            _ = try await summaries.steps(window: window("24h", now), agent: "rpa-pc-0042")
        }
    }

    /// The window `name` ("1h", "24h", "7d") ending at `now`.
    static func window(_ name: String, _ now: Timestamp) -> SummaryWindow {
        SummaryWindow.last(name, now: now) ?? SummaryWindow(from: now, to: now)
    }

    /// The calls one benchmark timed.
    struct Samples {
        /// Milliseconds of each finished call.
        var finished: [Double] = []
        /// True when a call was abandoned after `callLimit`.
        var abandoned = false
    }

    /// Registers `Summary CALL` timing `body`: after `warmup` unmeasured
    /// calls, at most `calls` calls, and none started once the measured
    /// calls took `budget` in all; a call still running after `callLimit`
    /// ends the benchmark.
    static func register(
        _ call: String, warmup: Int, calls: Int, budget: Duration,
        _ body: @escaping @Sendable (Summaries, Timestamp) async throws -> Void
    ) {
        let name = "Summary \(call)"
        let box = SetupBox<SummaryStore>()
        let samples = Mutex(Samples())
        Benchmark(
            name,
            configuration: .init(
                metrics: [.wallClock],
                timeUnits: .milliseconds,
                warmupIterations: warmup,
                scalingFactor: .one,
                maxDuration: budget,
                maxIterations: calls
            )
        ) { benchmark, store in
            if samples.withLock({ $0.abandoned }) { return }
            let elapsed = try await AbandonableCall.run(limit: callLimit) {
                try await body(store.summaries, store.info.now)
            }
            samples.withLock { samples in
                if let elapsed {
                    if benchmark.currentIteration >= warmup { samples.finished.append(elapsed.inSeconds * 1000) }
                } else {
                    samples.abandoned = true
                }
            }
        } setup: {
            box.keep(try await SummaryStore.open())
        } teardown: {
            guard let store = box.take() else { return }
            let measured = samples.withLock { $0 }
            let limitMilliseconds = callLimit.inSeconds * 1000
            let line: RunReport.Line
            if measured.abandoned {
                line = .init(
                    benchmark: name, figure: "a call did not finish; abandoned after",
                    value: "> " + Figures.grouped(limitMilliseconds) + " ms",
                    goal: "≤ \(Figures.grouped(goalMilliseconds)) ms: " + Figures.verdict(false))
            } else if !measured.finished.isEmpty {
                let median = Figures.median(measured.finished)
                line = .init(
                    benchmark: name, figure: "\(measured.finished.count) calls",
                    value: Figures.fixed(median, 1) + " ms",
                    goal: "≤ \(Figures.grouped(goalMilliseconds)) ms: " + Figures.verdict(median <= goalMilliseconds))
            } else {
                return
            }
            let info = store.info
            RunReport.add([
                line,
                .init(
                    benchmark: "Summary store", figure: "steps, executions (finished + running), agents",
                    value: "\(Figures.grouped(Double(info.steps))), \(Figures.grouped(Double(info.finishedExecutions)))"
                        + " + \(Figures.grouped(Double(info.runningExecutions))), \(Figures.grouped(Double(info.agents)))",
                    goal: ""),
                .init(
                    benchmark: "Summary store", figure: "file size, sqlite3 build time",
                    value: Figures.fixed(Double(info.bytes) / 1e9, 2) + " GB, " + Figures.fixed(info.buildSeconds, 0) + " s",
                    goal: ""),
            ])
        }
    }
}

/// Runs an async call but stops waiting for it after a time limit. The
/// summaries cannot be cancelled (they run inside one SQLite read), so an
/// abandoned call goes on in the background until the benchmark process
/// exits, which it does right after the benchmark's teardown.
enum AbandonableCall {
    /// Whether the outcome was delivered already.
    private final class Once: Sendable {
        private let done = Mutex(false)

        /// True the first time only.
        func claim() -> Bool {
            done.withLock { done in
                defer { done = true }
                return !done
            }
        }
    }

    /// How long `body` took, or nil when it had not finished after `limit`;
    /// rethrows its error.
    static func run(limit: Duration, _ body: @escaping @Sendable () async throws -> Void) async throws -> Duration? {
        let clock = ContinuousClock()
        let start = clock.now
        let once = Once()
        let outcome: Result<Duration?, any Error> = await withCheckedContinuation { continuation in
            let timer = Task {
                try? await Task.sleep(for: limit)
                if once.claim() { continuation.resume(returning: .success(nil)) }
            }
            Task {
                let result: Result<Duration?, any Error>
                do {
                    try await body()
                    result = .success(start.duration(to: clock.now))
                } catch {
                    result = .failure(error)
                }
                timer.cancel()
                if once.claim() { continuation.resume(returning: result) }
            }
        }
        return try outcome.get()
    }
}
