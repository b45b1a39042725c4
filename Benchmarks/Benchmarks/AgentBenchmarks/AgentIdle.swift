import Benchmark
import BenchmarkSupport
import Foundation

/// An agent with nothing to do: started with a reachable collector, given
/// time to ship its own start-up events (environment facts, status) and
/// settle, then sampled. The window is longer than the default sampler
/// interval and status period (60 s), so the periodic work idling does is in it.
enum AgentIdle {
    static let settle: Duration = .seconds(20)
    static let window: Duration = .seconds(70)

    static func run(_ benchmark: Benchmark, name: String) async throws -> [RunReport.Line] {
        try await ProcessFleet.with(name: "idle", agents: ["pc-idle"]) { fleet in
            let agent = try await fleet.startAgent("pc-idle", config: try fleet.writeAgentConfig("pc-idle"))
            _ = try await agent.loopback.waitUntilShipped(timeout: .seconds(60))
            try await Task.sleep(for: settle)

            let pid = agent.process.pid
            let clock = ContinuousClock()
            let start = clock.now
            guard let cpuBefore = ProcStats.cpuSeconds(pid) else { throw BenchmarkFailure(description: "cannot read /proc/\(pid)/stat") }
            let sampler = MemorySampler(pid: pid, every: .milliseconds(500))
            try await Task.sleep(for: window)
            let samples = await sampler.stop()
            guard let cpuAfter = ProcStats.cpuSeconds(pid), let memory = ProcStats.memory(pid) else {
                throw BenchmarkFailure(description: "the agent exited: \(agent.process.log.suffix(2_000))")
            }
            let elapsed = start.duration(to: clock.now).inSeconds
            try await fleet.stop(agent)

            let maxRSS = samples.map(\.rssKiB).max() ?? memory.rss
            let cpu = (cpuAfter - cpuBefore) / elapsed
            benchmark.measurement(AgentProcessBenchmark.rssMetric, maxRSS)
            benchmark.measurement(AgentProcessBenchmark.peakMetric, memory.peak)
            benchmark.measurement(AgentProcessBenchmark.cpuMetric, Int((cpu * 1000).rounded()))
            return [
                AgentProcessBenchmark.binaries(name),
                .init(
                    benchmark: name,
                    figure: "VmRSS, max of \(samples.count) samples over \(Int(window.inSeconds)) s after \(Int(settle.inSeconds)) s settling",
                    value: AgentProcessBenchmark.mebibytes(kibibytes: maxRSS),
                    goal: AgentProcessBenchmark.goal(kibibytes: maxRSS, mebibytes: AgentProcessBenchmark.idleGoalMiB)),
                .init(
                    benchmark: name, figure: "VmHWM (peak since start)", value: AgentProcessBenchmark.mebibytes(kibibytes: memory.peak),
                    goal: ""),
                AgentProcessBenchmark.composition(name, memory),
                .init(benchmark: name, figure: "CPU over the same window", value: Figures.fixed(cpu * 100, 2) + " % of a core", goal: ""),
            ]
        }
    }
}
