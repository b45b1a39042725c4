import Benchmark
import BenchmarkSupport
import Foundation

/// The agent as a real process (`ProcessFleet`): resident memory idle and
/// while draining a backlog, CPU while taking 1,000 events/s. Each is one
/// iteration reporting custom metrics (exact counts) and lines of the run
/// report (printed by the teardown: BenchmarkTool silences what an iteration
/// prints); the work runs in the iteration, so a failure ends the benchmark
/// with its reason.
enum AgentProcessBenchmark {
    static let idleGoalMiB = 32.0
    static let drainGoalMiB = 64.0
    static let cpuGoalPercent = 1.0

    static let rssMetric = BenchmarkMetric.custom("Agent VmRSS max (KiB)", polarity: .prefersSmaller, useScalingFactor: false)
    static let peakMetric = BenchmarkMetric.custom("Agent VmHWM (KiB)", polarity: .prefersSmaller, useScalingFactor: false)
    static let cpuMetric = BenchmarkMetric.custom(
        "Agent CPU (per mille of a core)", polarity: .prefersSmaller, useScalingFactor: false)
    static let rateMetric = BenchmarkMetric.custom("Drain (events/s)", polarity: .prefersLarger, useScalingFactor: false)

    static func registerAll() {
        register("Agent process RSS idle", metrics: [rssMetric, peakMetric, cpuMetric], AgentIdle.run)
        register(
            "Agent process RSS draining a \(Backlog.mebibytes) MiB backlog to the collector", metrics: [rssMetric, peakMetric, rateMetric],
            AgentDrain.run)
        register(
            "Agent process CPU at 1,000 events/s over loopback NDJSON", metrics: [cpuMetric, rssMetric, peakMetric], AgentLoad.run)
    }

    static func register(
        _ name: String, metrics: [BenchmarkMetric],
        _ body: @escaping @Sendable (Benchmark, String) async throws -> [RunReport.Line]
    ) {
        let report = SetupBox<[RunReport.Line]>()
        Benchmark(
            name,
            configuration: .counts(metrics, maxDuration: .seconds(7200))
        ) { benchmark in
            _ = report.keep(try await body(benchmark, name))
        } teardown: {
            if let lines = report.take() { RunReport.add(lines) }
        }
    }

    /// "12.3 MiB".
    static func mebibytes(kibibytes: Int) -> String {
        Figures.fixed(Double(kibibytes) / 1024, 1) + " MiB"
    }

    /// "≤ 32 MiB: met".
    static func goal(kibibytes: Int, mebibytes goal: Double) -> String {
        "≤ \(Figures.grouped(goal)) MiB: " + Figures.verdict(Double(kibibytes) / 1024 <= goal)
    }

    /// VmRSS at the end split into private memory and mapped files.
    static func composition(_ name: String, _ memory: ProcStats.Memory) -> RunReport.Line {
        .init(
            benchmark: name, figure: "at the end: RssAnon (heap, stacks) + RssFile (code)",
            value: mebibytes(kibibytes: memory.anonymous) + " + " + mebibytes(kibibytes: memory.file), goal: "")
    }

    /// The binaries measured, for the report.
    static func binaries(_ name: String) -> RunReport.Line {
        .init(benchmark: name, figure: "binary", value: FleetProcess.describe("fleet-agent"), goal: "")
    }
}
