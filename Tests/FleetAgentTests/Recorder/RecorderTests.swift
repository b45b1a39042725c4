import FleetTestSupport
import FleetCore
import Logging
import ServiceLifecycle
import Testing

@testable import FleetAgent

@Suite("Recorder and WAL writer")
struct RecorderTests {
    /// Runs a WAL writer for `body`, then shuts it down gracefully and reopens the WAL.
    func withWriter(
        _ dir: String, syncInterval: Duration? = .milliseconds(100), _ body: @Sendable (Recorder) async throws -> Void
    ) async throws -> WriteAheadLog {
        let recorder = Recorder()
        do {
            let wal = try WriteAheadLog(directory: dir)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let writer = WALWriter(wal: wal, recorder: recorder, syncInterval: syncInterval, logger: logger)
            let group = ServiceGroup(services: [writer], logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await body(recorder)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
        return try WriteAheadLog(directory: dir)
    }

    @Test("events recorded one, two or three at a time reach the WAL while the writer runs: no wake-up is lost")
    func noLostWakeup() async throws {
        let wal = try WriteAheadLog(directory: temporaryDirectory())
        let recorder = Recorder()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let group = ServiceGroup(
            services: [WALWriter(wal: wal, recorder: recorder, syncInterval: .milliseconds(5), logger: logger)], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var rng = SplitMix64(seed: 0x3A4E)
            var expected: UInt64 = 1
            for round in 0..<400 {
                let burst = Int(rng.next() % 3) + 1
                let event = Event(timestamp: Timestamp(microsecondsSinceEpoch: Int64(round)), .metric(MetricSample(name: "m", kind: .counter, value: 1)))
                if round % 10 == 0 {
                    _ = try await recorder.recordDurably(Array(repeating: event, count: burst))
                } else {
                    for _ in 0..<burst { #expect(recorder.record(event)) }
                }
                expected += UInt64(burst)
                // Land sometimes right after the writer drained, sometimes during its group commit or sync.
                if rng.next() % 2 == 0 { try await Task.sleep(for: .microseconds(Int64(rng.next() % 8_000))) }
                let deadline = ContinuousClock.now + .seconds(5)
                while wal.stats.nextSequence < expected && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
                #expect(wal.stats.nextSequence == expected, "round \(round): the writer was not woken")
                if wal.stats.nextSequence != expected { break }
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("one wake-up until the writer drains: the first event queued needs it, the ones after it do not")
    func oneWakeupPerDrain() {
        var queue = Recorder.Queue()
        let first = queue.needsWake()
        let second = queue.needsWake()
        #expect(first && !second)
    }

    @Test("events recorded from many tasks all reach the WAL, each task's in order")
    func concurrentRecording() async throws {
        let dir = temporaryDirectory()
        let wal = try await withWriter(dir) { recorder in
            await withTaskGroup(of: Void.self) { group in
                for t in 0..<8 {
                    group.addTask {
                        for i in 0..<5000 {
                            let ok = recorder.record(
                                Event(
                                    timestamp: Timestamp(microsecondsSinceEpoch: Int64(i)),
                                    .metric(MetricSample(name: "t\(t)", kind: .counter, value: Double(i)))))
                            precondition(ok)
                        }
                    }
                }
            }
        }
        let records = wal.read(from: 1, maxEvents: 100_000, maxBytes: 1 << 30)
        #expect(records.count == 40_000)
        #expect(records.map(\.sequence) == Array(1...40_000))
        var next = [String: Double]()
        for record in records {
            guard case .metric(let m) = record.event.payload else { continue }
            #expect(m.value == next[m.name, default: 0])
            next[m.name] = m.value + 1
        }
    }

    @Test("recordDurably answers with the sequences once synced; shutdown keeps what was queued")
    func durable() async throws {
        let dir = temporaryDirectory()
        let wal = try await withWriter(dir, syncInterval: .milliseconds(50)) { recorder in
            for i in 0..<100 { recorder.record(events(1, from: i)[0]) }
            let range = try await recorder.recordDurably(events(10, from: 1000))
            #expect(range == 101...110)
            async let a = recorder.recordDurably(events(5, from: 2000))
            async let b = recorder.recordDurably(events(7, from: 3000))
            let (ra, rb) = try await (a, b)
            #expect([ra?.count, rb?.count] == [5, 7])
            #expect(Set(ra.map(Array.init) ?? []).isDisjoint(with: rb.map(Array.init) ?? []))
            for i in 0..<1000 { recorder.record(events(1, from: 5000 + i)[0]) }
        }
        #expect(wal.read(from: 1, maxEvents: 10_000).count == 1122)
    }

    @Test("sync_interval = always syncs after each append")
    func always() async throws {
        let dir = temporaryDirectory()
        let wal = try await withWriter(dir, syncInterval: nil) { recorder in
            let range = try await recorder.recordDurably(events(3))
            #expect(range == 1...3)
        }
        #expect(wal.stats.backlogEvents == 3)
    }
}
