import Benchmark
import BenchmarkSupport
import Foundation

/// An agent started on a WAL holding `Backlog.mebibytes` MiB of unsent
/// events (written beforehand with the agent's own `WriteAheadLog`, as a
/// disconnected agent accumulates them), with the collector up: VmRSS is
/// sampled every 100 ms from the launch until `/v1/health` reports an
/// empty backlog.
enum AgentDrain {
    static func run(_ benchmark: Benchmark, name: String) async throws -> [RunReport.Line] {
        let id = "pc-drain"
        return try await ProcessFleet.with(name: "drain", agents: [id]) { fleet in
            let clock = ContinuousClock()
            let buildStart = clock.now
            let backlog = try Backlog.write(into: fleet.dataDirectory(id) + "/wal", mebibytes: Backlog.mebibytes)
            let build = buildStart.duration(to: clock.now)

            let config = try fleet.writeAgentConfig(id, extra: "[wal]\nmax_bytes = \"\(backlog.walMaxMebibytes)MiB\"")
            var sampler: MemorySampler?
            let start = clock.now
            let agent = try await fleet.startAgent(id, config: config) { process in
                sampler = MemorySampler(pid: process.pid, every: .milliseconds(100))
            }
            let up = start.duration(to: clock.now)
            let health = try await agent.loopback.waitUntilShipped(timeout: .seconds(3600))
            let drained = start.duration(to: clock.now)
            let samples = await sampler?.stop() ?? []
            let agentCPU = ProcStats.cpuSeconds(agent.process.pid).map { $0 / drained.inSeconds }
            let collectorCPU = ProcStats.cpuSeconds(fleet.collector.pid).map { $0 / drained.inSeconds }
            guard let memory = ProcStats.memory(agent.process.pid), let agentCPU, let collectorCPU else {
                throw BenchmarkFailure(description: "the agent exited: \(agent.process.log.suffix(2_000))")
            }
            try await fleet.stop(agent)
            MemorySampler.write(samples, to: AgentBenchmarkFiles.directory + "/drain-rss.csv")
            guard health.droppedEvents == 0, health.lostEvents == 0 else {
                throw BenchmarkFailure(description: "the agent dropped \(health.droppedEvents) and lost \(health.lostEvents) events")
            }

            let maxRSS = samples.map(\.rssKiB).max() ?? memory.rss
            let rate = Double(backlog.events) / drained.inSeconds
            benchmark.measurement(AgentProcessBenchmark.rssMetric, maxRSS)
            benchmark.measurement(AgentProcessBenchmark.peakMetric, memory.peak)
            benchmark.measurement(AgentProcessBenchmark.rateMetric, Int(rate.rounded()))
            let size = "\(Figures.grouped(Double(backlog.bytes) / 1_048_576)) MiB, \(Figures.grouped(Double(backlog.events))) events"
            return [
                AgentProcessBenchmark.binaries(name),
                .init(
                    benchmark: name, figure: "backlog (WAL written in \(Figures.fixed(build.inSeconds, 0)) s)", value: size,
                    goal: Backlog.mebibytes < 1024 ? "smaller than the 1 GiB of the goal" : ""),
                .init(
                    benchmark: name,
                    figure: "launch to loopback up (WAL recovery), to backlog 0",
                    value: Figures.fixed(up.inSeconds, 1) + " s, " + Figures.fixed(drained.inSeconds, 1) + " s", goal: ""),
                .init(
                    benchmark: name, figure: "CPU from launch to backlog 0: agent, collector (since its start)",
                    value: Figures.fixed(agentCPU * 100, 0) + " %, " + Figures.fixed(collectorCPU * 100, 0) + " % of a core", goal: ""),
                .init(
                    benchmark: name, figure: "drain rate",
                    value: Figures.grouped(rate) + " events/s, " + Figures.fixed(Double(backlog.bytes) / 1_048_576 / drained.inSeconds, 1) + " MiB/s",
                    goal: ""),
                .init(
                    benchmark: name, figure: "VmRSS, max of \(samples.count) samples (every 100 ms)",
                    value: AgentProcessBenchmark.mebibytes(kibibytes: maxRSS),
                    goal: AgentProcessBenchmark.goal(kibibytes: maxRSS, mebibytes: AgentProcessBenchmark.drainGoalMiB)),
                .init(
                    benchmark: name, figure: "VmHWM (kernel's peak since launch)", value: AgentProcessBenchmark.mebibytes(kibibytes: memory.peak),
                    goal: AgentProcessBenchmark.goal(kibibytes: memory.peak, mebibytes: AgentProcessBenchmark.drainGoalMiB)),
                AgentProcessBenchmark.composition(name, memory),
            ]
        }
    }
}
