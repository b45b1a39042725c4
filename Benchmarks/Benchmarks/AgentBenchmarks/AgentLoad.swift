import Benchmark
import BenchmarkSupport
import FleetCore
import Foundation
import NIOCore

/// An executor posting 1,000 `step_finished` events a second to the
/// agent's loopback API, by default 200 NDJSON lines every 200 ms on a fixed
/// schedule — what our Python client sends at that rate with its defaults
/// (`flush_interval` 0.2 s, `batch_size` 500) — with the collector up. A
/// request does not wait for the previous answer, which comes once its
/// events are synced (the 100 ms group commit).
/// `FLEET_AGENT_LINES_PER_REQUEST` (1–1,000) changes the shape at the same
/// 1,000 events/s: 100 is a request every 100 ms.
/// The agent's CPU time (utime + stime) is read from `/proc/PID/stat`
/// when the warm-up ends and when the last request of the window is sent.
enum AgentLoad {
    static let linesPerRequest = min(1_000, max(1, ProcessInfo.processInfo.environment["FLEET_AGENT_LINES_PER_REQUEST"].flatMap(Int.init) ?? 200))
    static let requestInterval: Duration = .milliseconds(linesPerRequest)
    static let warmup: Duration = .seconds(5)
    /// After the feed: how long the agent's CPU is read once it has nothing left to send.
    static let afterwards: Duration = .seconds(10)

    /// `FLEET_AGENT_CPU_SECONDS`, default 60 (at least 30): the measured window.
    static var window: Duration {
        .seconds(max(30, ProcessInfo.processInfo.environment["FLEET_AGENT_CPU_SECONDS"].flatMap(Int.init) ?? 60))
    }

    static func run(_ benchmark: Benchmark, name: String) async throws -> [RunReport.Line] {
        let id = "pc-load"
        return try await ProcessFleet.with(name: "load", agents: [id]) { fleet in
            let agent = try await fleet.startAgent(id, config: try fleet.writeAgentConfig(id))
            _ = try await agent.loopback.waitUntilShipped(timeout: .seconds(60))

            let warmupRequests = Int(warmup.inSeconds / requestInterval.inSeconds)
            let requests = warmupRequests + Int(window.inSeconds / requestInterval.inSeconds)
            let events = StepFinishedWorkload.events(requests * linesPerRequest, seed: 1_000)
            let bodies = (0..<requests).map { request in
                var body = ByteBuffer()
                for event in events[(request * linesPerRequest)..<((request + 1) * linesPerRequest)] {
                    body.writeBytes(EventJSON.encode(event))
                    body.writeInteger(UInt8(ascii: "\n"))
                }
                return body
            }

            let pid = agent.process.pid
            let collectorPID = fleet.collector.pid
            let loopback = agent.loopback
            let sampler = MemorySampler(pid: pid, every: .milliseconds(500))
            let clock = ContinuousClock()
            let start = clock.now
            var windowStart: (at: ContinuousClock.Instant, agent: Double, collector: Double)?
            var windowEnd: (at: ContinuousClock.Instant, agent: Double, collector: Double)?
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, body) in bodies.enumerated() {
                    try await clock.sleep(until: start + requestInterval * index)
                    if index == warmupRequests { windowStart = try cpu(agent: pid, collector: collectorPID, at: clock.now) }
                    group.addTask { try await loopback.post(body, lines: linesPerRequest) }
                }
                try await clock.sleep(until: start + requestInterval * requests)
                windowEnd = try cpu(agent: pid, collector: collectorPID, at: clock.now)
                try await group.waitForAll()
            }
            let shipped = try await agent.loopback.waitUntilShipped(timeout: .seconds(120))
            // The same agent with nothing more to do, everything acknowledged: what is left is the idle cost.
            try await Task.sleep(for: .seconds(2))
            let idleStart = try cpu(agent: pid, collector: collectorPID, at: clock.now)
            try await Task.sleep(for: afterwards)
            let idleEnd = try cpu(agent: pid, collector: collectorPID, at: clock.now)
            let samples = await sampler.stop()
            guard let memory = ProcStats.memory(pid), let first = windowStart, let last = windowEnd else {
                throw BenchmarkFailure(description: "the agent exited: \(agent.process.log.suffix(2_000))")
            }
            try await fleet.stop(agent)

            let seconds = first.at.duration(to: last.at).inSeconds
            let agentCPU = (last.agent - first.agent) / seconds
            let collectorCPU = (last.collector - first.collector) / seconds
            let idleCPU = (idleEnd.agent - idleStart.agent) / idleStart.at.duration(to: idleEnd.at).inSeconds
            let maxRSS = samples.map(\.rssKiB).max() ?? memory.rss
            benchmark.measurement(AgentProcessBenchmark.cpuMetric, Int((agentCPU * 1000).rounded()))
            benchmark.measurement(AgentProcessBenchmark.rssMetric, maxRSS)
            benchmark.measurement(AgentProcessBenchmark.peakMetric, memory.peak)
            return [
                AgentProcessBenchmark.binaries(name),
                .init(
                    benchmark: name,
                    figure: "agent CPU over \(Int(seconds.rounded())) s after \(Int(warmup.inSeconds)) s warm-up, "
                        + "\(Figures.grouped(Double(requests * linesPerRequest))) events posted (\(linesPerRequest) lines every \(linesPerRequest) ms), \(shipped.collector.batchesSent) batches",
                    value: Figures.fixed(agentCPU * 100, 2) + " % of a core",
                    goal: "≤ \(Figures.fixed(AgentProcessBenchmark.cpuGoalPercent, 0)) %: "
                        + Figures.verdict(agentCPU * 100 <= AgentProcessBenchmark.cpuGoalPercent)),
                .init(benchmark: name, figure: "collector CPU, same window", value: Figures.fixed(collectorCPU * 100, 2) + " % of a core", goal: ""),
                .init(
                    benchmark: name, figure: "agent CPU in the \(Int(afterwards.inSeconds)) s after the feed, all acknowledged",
                    value: Figures.fixed(idleCPU * 100, 2) + " % of a core", goal: ""),
                .init(
                    benchmark: name, figure: "agent VmRSS max, VmHWM",
                    value: AgentProcessBenchmark.mebibytes(kibibytes: maxRSS) + ", " + AgentProcessBenchmark.mebibytes(kibibytes: memory.peak),
                    goal: ""),
                AgentProcessBenchmark.composition(name, memory),
            ]
        }
    }

    /// Both processes' CPU seconds so far.
    static func cpu(agent: Int32, collector: Int32, at instant: ContinuousClock.Instant) throws -> (
        at: ContinuousClock.Instant, agent: Double, collector: Double
    ) {
        guard let a = ProcStats.cpuSeconds(agent), let c = ProcStats.cpuSeconds(collector) else {
            throw BenchmarkFailure(description: "cannot read /proc/PID/stat of the agent or the collector")
        }
        return (instant, a, c)
    }
}
