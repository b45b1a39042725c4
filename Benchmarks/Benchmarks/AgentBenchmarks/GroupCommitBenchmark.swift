import Benchmark
import BenchmarkSupport
import FleetAgent
import FleetCore
import Foundation
import Synchronization

/// Durable WAL appends through the agent's recording path with group
/// commit (`WALPipeline`: recorder, WAL writer, `wal.sync_interval = 100ms`,
/// default segments), against `dd … conv=fdatasync` writing as many bytes
/// on the same disk in the same iteration.
///
/// One iteration is one round: a fresh WAL; 20 producers, each handing the
/// recorder 5,000 events at a time with `recordDurably` (what the loopback
/// API does per request) and waiting until they are synced, 16 times; the
/// clock stops when the last of the 1,600,000 events is durable. At most
/// 100,000 events wait, the recorder's default capacity, which
/// `recordDurably` may enforce like `record`. When the writer appends that
/// many in less than the 100 ms interval, the producers' ceiling is about
/// 1 M events/s; the writer measured here needs about that long, so the
/// figure is the writer's (32 producers of 10,000, three times as many in
/// flight, measured the same on this machine). Then `dd` writes the WAL's
/// byte count, rounded up to a MiB.
enum GroupCommitBenchmark {
    static let producers = 20
    static let eventsPerCall = 5_000
    static let callsPerProducer = 16
    static var eventsPerRound: Int { producers * eventsPerCall * callsPerProducer }
    static let warmupRounds = 1
    static let measuredRounds = 3

    /// The goal.
    static let goalEventsPerSecond = 500_000.0

    static let eventRate = BenchmarkMetric.custom("WAL durable (events/s)", polarity: .prefersLarger, useScalingFactor: false)
    static let walRate = BenchmarkMetric.custom("WAL durable (KiB/s)", polarity: .prefersLarger, useScalingFactor: false)
    static let ddRate = BenchmarkMetric.custom("dd conv=fdatasync (KiB/s)", polarity: .prefersLarger, useScalingFactor: false)
    static let ratio = BenchmarkMetric.custom("WAL/dd bytes per second (per mille)", polarity: .prefersLarger, useScalingFactor: false)

    /// What one round measured.
    struct Round: Sendable {
        var events: Int
        /// Bytes of the WAL's segment files (headers and record framing included).
        var walBytes: Int
        var wal: Duration
        var ddMebibytes: Int
        var dd: Duration

        var eventsPerSecond: Double { Double(events) / wal.inSeconds }
        var walMiBPerSecond: Double { Double(walBytes) / 1_048_576 / wal.inSeconds }
        var ddMiBPerSecond: Double { Double(ddMebibytes) / dd.inSeconds }
        var ratio: Double { walMiBPerSecond / ddMiBPerSecond }
    }

    /// The producers' events (one chunk each) and the rounds measured so far.
    final class Fixture: Sendable {
        let chunks: [[Event]]
        let measured = Mutex<[Round]>([])

        init() {
            let events = StepFinishedWorkload.events(producers * eventsPerCall, seed: 7)
            chunks = (0..<producers).map { Array(events[($0 * eventsPerCall)..<(($0 + 1) * eventsPerCall)]) }
        }

        func run() async throws -> Round {
            let pipeline = try WALPipeline(name: "group-commit")
            let clock = ContinuousClock()
            let start = clock.now
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for chunk in chunks {
                        group.addTask {
                            for _ in 0..<callsPerProducer { _ = try await pipeline.recorder.recordDurably(chunk) }
                        }
                    }
                    try await group.waitForAll()
                }
            } catch {
                try? await pipeline.stop()
                pipeline.remove()
                throw error
            }
            let elapsed = start.duration(to: clock.now)
            let stats = pipeline.wal.stats
            try await pipeline.stop()
            pipeline.remove()
            guard stats.nextSequence - 1 == UInt64(eventsPerRound), stats.droppedEvents == 0 else {
                throw BenchmarkFailure(
                    description: "the WAL holds sequences up to \(stats.nextSequence - 1) (dropped \(stats.droppedEvents)), expected \(eventsPerRound)")
            }
            let mebibytes = Int((Double(stats.backlogBytes) / 1_048_576).rounded(.up))
            let dd = try await DiskWriteLimit.measure(
                file: AgentBenchmarkFiles.directory + "/dd-\(UUID().uuidString).bin", mebibytes: mebibytes)
            return Round(events: eventsPerRound, walBytes: Int(stats.backlogBytes), wal: elapsed, ddMebibytes: mebibytes, dd: dd)
        }
    }

    static func register() {
        let name = "WAL append, group commit 100ms, \(producers) producers, vs dd conv=fdatasync"
        let metrics = [eventRate, walRate, ddRate, ratio]
        let box = SetupBox<Fixture>()
        Benchmark(
            name,
            configuration: .counts(
                metrics, warmupIterations: warmupRounds, maxIterations: measuredRounds, maxDuration: .seconds(120))
        ) { benchmark, fixture in
            let round = try await fixture.run()
            benchmark.measurement(eventRate, Int(round.eventsPerSecond.rounded()))
            benchmark.measurement(walRate, Int((round.walMiBPerSecond * 1024).rounded()))
            benchmark.measurement(ddRate, Int((round.ddMiBPerSecond * 1024).rounded()))
            benchmark.measurement(ratio, Int((round.ratio * 1000).rounded()))
            if benchmark.currentIteration >= warmupRounds { fixture.measured.withLock { $0.append(round) } }
        } setup: {
            box.keep(Fixture())
        } teardown: {
            guard let rounds = box.take()?.measured.withLock({ $0 }), let first = rounds.first else { return }
            let events = Figures.median(rounds.map(\.eventsPerSecond))
            let wal = Figures.median(rounds.map(\.walMiBPerSecond))
            let dd = Figures.median(rounds.map(\.ddMiBPerSecond))
            let ratio = Figures.median(rounds.map(\.ratio))
            let perEvent = Double(first.walBytes) / Double(first.events)
            let per = "\(rounds.count) rounds of \(Figures.grouped(Double(eventsPerRound))) events"
            RunReport.add([
                .init(
                    benchmark: name, figure: "WAL, durable, \(per)", value: Figures.grouped(events) + " events/s",
                    goal: "≥ \(Figures.grouped(goalEventsPerSecond)) events/s: " + Figures.verdict(events >= goalEventsPerSecond)),
                .init(
                    benchmark: name,
                    figure: "WAL bytes (\(Figures.fixed(Double(first.walBytes) / 1_048_576, 0)) MiB, \(Figures.fixed(perEvent, 1)) B/event)",
                    value: Figures.fixed(wal, 1) + " MiB/s", goal: ""),
                .init(
                    benchmark: name, figure: "dd bs=1M count=\(first.ddMebibytes) conv=fdatasync, same disk",
                    value: Figures.fixed(dd, 1) + " MiB/s", goal: ""),
                .init(benchmark: name, figure: "WAL / dd (MiB/s)", value: Figures.fixed(ratio * 100, 1) + " %", goal: ""),
            ])
        }
    }
}
