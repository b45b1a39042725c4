import Benchmark
import BenchmarkSupport
import FleetAgent
import FleetCore
import Synchronization

/// `Recorder.record(_:)` of one `step_finished` event, the call an
/// in-process executor makes per step, with the agent's WAL writer running
/// (`WALPipeline`: it drains the recorder, appends and group-commits on the
/// other core, as in the agent).
///
/// One iteration is one call, measured alone (`startMeasurement()` just
/// before it, `stopMeasurement()` just after), so BenchmarkTool's wall-clock
/// percentiles are per-call latencies. Calls are paced at a fixed rate (a
/// busy wait between them, not measured): unpaced, the loop would record
/// several million events per second, more than the writer drains with
/// the recorder's 100,000-event bound and the 100 ms group commit, and
/// `record` would return at once with the event dropped, which is not the
/// path being measured. Drops are counted and reported.
enum RecordLatencyBenchmark {
    /// The goals for one call.
    static let goalMedianNanoseconds = 1_000
    static let goalP99Nanoseconds = 10_000

    static func registerAll() {
        // An executor's real pace (an RPA PC records about one step a second; 1,000/s is a busy agent) …
        register(eventsPerSecond: 1_000, calls: 10_000)
        // … and bursts far above it, which fill the recorder's queue faster than one drain interval.
        register(eventsPerSecond: 100_000, calls: 500_000)
        registerFloor()
    }

    /// The pacing, the events and the counts of one benchmark; used from the benchmark's thread.
    final class Fixture: Sendable {
        struct State {
            var next: ContinuousClock.Instant
            var index = 0
            var accepted = 0
            var dropped = 0
        }

        let pipeline: WALPipeline
        /// Distinct events, recorded in turn.
        let events: [Event]
        let interval: Duration
        let state: Mutex<State>

        init(eventsPerSecond: Int) throws {
            pipeline = try WALPipeline(name: "record-latency")
            events = StepFinishedWorkload.events(100_000, seed: 42)
            interval = .seconds(1) / eventsPerSecond
            state = Mutex(State(next: .now))
        }

        /// Waits (spinning) for the next call's slot and returns its event.
        func nextEvent() -> Event {
            let (deadline, event) = state.withLock { state -> (ContinuousClock.Instant, Event) in
                defer {
                    state.index = (state.index + 1) % events.count
                    state.next += interval
                }
                return (state.next, events[state.index])
            }
            var now = ContinuousClock.now
            while now < deadline { now = .now }
            // Fell far behind (descheduled): start the schedule again rather than catching up in a burst.
            if now - deadline > interval * 10 { state.withLock { $0.next = now + interval } }
            return event
        }

        func count(accepted: Bool) {
            state.withLock { accepted ? ($0.accepted += 1) : ($0.dropped += 1) }
        }
    }

    static func register(eventsPerSecond: Int, calls: Int) {
        let name = "Recorder.record step_finished, \(Figures.grouped(Double(eventsPerSecond)))/s, WAL writer running"
        let box = SetupBox<Fixture>()
        Benchmark(
            name,
            configuration: .init(
                metrics: [.wallClock],
                timeUnits: .nanoseconds,
                warmupIterations: min(calls / 10, 10_000),
                scalingFactor: .one,
                maxDuration: .seconds(Int64(calls / eventsPerSecond) + 5),
                maxIterations: calls
            )
        ) { benchmark, fixture in
            let event = fixture.nextEvent()
            benchmark.startMeasurement()
            let accepted = fixture.pipeline.recorder.record(event)
            benchmark.stopMeasurement()
            fixture.count(accepted: accepted)
        } setup: {
            box.keep(try Fixture(eventsPerSecond: eventsPerSecond))
        } teardown: {
            guard let fixture = box.take() else { return }
            try await fixture.pipeline.stop()
            let counts = fixture.state.withLock { $0 }
            let stats = fixture.pipeline.wal.stats
            fixture.pipeline.remove()
            // Every accepted event must be in the WAL after the writer's last sync.
            let inWAL = Int(stats.nextSequence) - 1
            guard inWAL == counts.accepted else {
                throw BenchmarkFailure(description: "\(counts.accepted) events accepted but \(inWAL) in the WAL")
            }
            RunReport.add([
                .init(
                    benchmark: name,
                    figure: "calls (warm-up included), dropped",
                    value: "\(Figures.grouped(Double(counts.accepted + counts.dropped))), \(counts.dropped)",
                    goal: counts.dropped == 0 ? "" : "drops: the writer fell behind"),
                .init(
                    benchmark: name,
                    figure: "latency: BenchmarkTool table, Time (wall clock) p50 and p99",
                    value: "(ns)",
                    goal: "p50 ≤ \(Figures.grouped(Double(goalMedianNanoseconds))) ns, "
                        + "p99 ≤ \(Figures.grouped(Double(goalP99Nanoseconds))) ns"),
            ])
        }
    }

    /// The same measured region around nothing: what the clock reads and the
    /// start/stop hooks add to every `record` figure.
    static func registerFloor() {
        Benchmark(
            "Measurement floor: empty measured region",
            configuration: .init(
                metrics: [.wallClock],
                timeUnits: .nanoseconds,
                warmupIterations: 10_000,
                scalingFactor: .one,
                maxDuration: .seconds(5),
                maxIterations: 500_000
            )
        ) { benchmark in
            benchmark.startMeasurement()
            benchmark.stopMeasurement()
        }
    }
}
