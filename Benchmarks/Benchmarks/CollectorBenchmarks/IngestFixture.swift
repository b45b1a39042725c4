import AsyncHTTPClient
import BenchmarkSupport
import FleetCollector
import FleetCore
import FleetPKI
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The durable-ingest benchmark's world: a collector in this process, the
/// agents' clients and their pre-compressed batches, and per round a CSV
/// file with the same rows for the raw `sqlite3` insert.
///
/// One measured iteration is one round: every agent posts its next
/// `batchesPerAgent` batches concurrently with the others (sequences go on
/// from the previous round), then the same number of rows is bulk-inserted
/// by `sqlite3` into a fresh file.
final class IngestFixture: Sendable {
    /// The sizes of the workload.
    struct Shape: Sendable {
        var agents = 50
        var batchesPerAgent = 4
        var eventsPerBatch = 1_000
        /// Rounds prepared: the warm-up rounds plus the measured ones.
        var rounds: Int

        /// Events (and raw rows) per round.
        var eventsPerRound: Int { agents * batchesPerAgent * eventsPerBatch }
    }

    /// What one round measured.
    struct Round: Sendable {
        /// All agents' batches posted and acknowledged (so durably committed).
        var ingest: Duration
        /// The `sqlite3` process importing the same number of rows.
        var raw: Duration
        var events: Int

        var ingestEventsPerSecond: Double { Double(events) / ingest.inSeconds }
        var rawRowsPerSecond: Double { Double(events) / raw.inSeconds }
        /// Ingest rate over raw rate (1 = as fast as the raw insert).
        var ratio: Double { raw.inSeconds / ingest.inSeconds }
    }

    let shape: Shape
    let synchronousFull: Bool
    let collector: InProcessCollector
    let agents: [AgentConnection]
    /// `csvFiles[r]`: the rows of round `r`, for the raw insert.
    let csvFiles: [String]
    /// The measured rounds so far (warm-up rounds are not kept).
    let measured = Mutex<[Round]>([])

    private init(
        shape: Shape, synchronousFull: Bool, collector: InProcessCollector, agents: [AgentConnection], csvFiles: [String]
    ) {
        self.shape = shape
        self.synchronousFull = synchronousFull
        self.collector = collector
        self.agents = agents
        self.csvFiles = csvFiles
    }

    /// Starts the collector (rate limit off, `store.synchronous` full or
    /// normal, raw retention at its 10-year maximum), issues one certificate per agent, generates and compresses
    /// every round's batches, and writes every round's CSV file.
    static func make(shape: Shape, synchronousFull: Bool) async throws -> IngestFixture {
        let ids = (1...shape.agents).map { "rpa-pc-" + String(format: "%04d", $0) }
        let collector = try await InProcessCollector(agents: ids) { configuration in
            configuration.ingest.agentEventsPerSecond = 0
            configuration.store.synchronousFull = synchronousFull
            // The workload's clock starts on 2026-03-02: keep the retention
            // pass from rolling the rows up while they are being measured.
            configuration.store.rawRetention = .seconds(3650 * 86_400)
        }
        do {
            let csvFiles = (0..<shape.rounds).map { collector.directory + "/round-\($0).csv" }
            for file in csvFiles where !FileManager.default.createFile(atPath: file, contents: nil) {
                throw BenchmarkFailure(description: "cannot create \(file)")
            }
            let batchesPerAgent = shape.batchesPerAgent
            let prepared = try await withThrowingTaskGroup(of: (Int, PreparedAgent).self) { group in
                for (index, id) in ids.enumerated() {
                    group.addTask {
                        (index, try PreparedAgent(agentID: id, seed: 0xC011_EC70_0000 + UInt64(index), shape: shape))
                    }
                }
                var byIndex: [Int: PreparedAgent] = [:]
                for try await (index, agent) in group {
                    for (round, csv) in agent.csvByRound.enumerated() {
                        try append(csv, to: csvFiles[round])
                    }
                    byIndex[index] = agent.withoutCSV
                }
                return byIndex
            }
            var agents: [AgentConnection] = []
            for (index, id) in ids.enumerated() {
                guard let agent = prepared[index] else {
                    throw BenchmarkFailure(description: "no batches were prepared for \(id)")
                }
                let client = try AgentConnection.client(
                    ca: collector.pki.caCertificate, certificate: collector.pki.agentCertificate(id),
                    key: collector.pki.agentKey(id))
                agents.append(
                    AgentConnection(
                        agentID: id, epoch: agent.epoch, client: client,
                        url: "https://127.0.0.1:\(collector.ingestPort)/v1/batches",
                        rounds: (0..<shape.rounds).map { round in
                            Array(agent.frames[(round * batchesPerAgent)..<((round + 1) * batchesPerAgent)])
                        }))
            }
            return IngestFixture(
                shape: shape, synchronousFull: synchronousFull, collector: collector, agents: agents, csvFiles: csvFiles)
        } catch {
            try? await collector.stop()
            collector.removeFiles()
            throw error
        }
    }

    /// One agent's batches for every round, compressed, and their rows as CSV per round.
    private struct PreparedAgent: Sendable {
        var epoch: WALEpoch
        var frames: [ByteBuffer]
        var csvByRound: [String]

        init(agentID: String, seed: UInt64, shape: Shape) throws {
            let batches = StepFinishedWorkload.batches(
                count: shape.rounds * shape.batchesPerAgent, eventsPerBatch: shape.eventsPerBatch, seed: seed,
                agentID: agentID)
            guard let first = batches.first else { throw BenchmarkFailure(description: "no batches for \(agentID)") }
            epoch = first.epoch
            frames = try batches.map { ByteBuffer(bytes: try BatchFrame.encodeCompressed($0)) }
            csvByRound = try (0..<shape.rounds).map { round in
                try RawSQLiteInsert.csv(
                    Array(batches[(round * shape.batchesPerAgent)..<((round + 1) * shape.batchesPerAgent)]))
            }
        }

        /// The same without the CSV text, once it is written.
        var withoutCSV: PreparedAgent {
            var copy = self
            copy.csvByRound = []
            return copy
        }
    }

    /// Appends `text` to the file at `path`.
    private static func append(_ text: String, to path: String) throws {
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw BenchmarkFailure(description: "cannot write \(path)")
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    /// Runs round `round` (0-based, warm-up rounds first): the timed ingest,
    /// its check against the store, then the timed raw insert. Keeps the
    /// result when `measuredRound` is true.
    func run(round: Int, measuredRound: Bool) async throws -> Round {
        guard round < shape.rounds else {
            throw BenchmarkFailure(description: "round \(round) was not prepared (only \(shape.rounds))")
        }
        let clock = ContinuousClock()
        let start = clock.now
        let statuses = try await withThrowingTaskGroup(of: [HTTPResponseStatus].self) { group in
            for agent in agents {
                group.addTask { try await agent.post(round: round) }
            }
            var all: [HTTPResponseStatus] = []
            for try await statuses in group { all += statuses }
            return all
        }
        let ingest = start.duration(to: clock.now)

        let refused = statuses.filter { $0 != .ok }
        guard refused.isEmpty else {
            throw BenchmarkFailure(
                description: "\(refused.count) of \(statuses.count) batches were refused: \(Set(refused.map(\.code)).sorted())")
        }
        // Exactly-once: every agent's committed range is 1 through its last sequence so far.
        let expected = UInt64((round + 1) * shape.batchesPerAgent * shape.eventsPerBatch)
        for agent in agents {
            let ranges = try await collector.collector.store.committedRanges(agentID: agent.agentID, epoch: agent.epoch)
            guard ranges == [1...expected] else {
                throw BenchmarkFailure(description: "\(agent.agentID): committed \(ranges), expected [1...\(expected)]")
            }
        }

        let database = collector.directory + "/raw-round-\(round).sqlite"
        let raw = try await RawSQLiteInsert.insert(
            csvFile: csvFiles[round], rows: shape.eventsPerRound, database: database)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }

        let result = Round(ingest: ingest, raw: raw, events: shape.eventsPerRound)
        if measuredRound { measured.withLock { $0.append(result) } }
        return result
    }

    /// Closes the agents' clients, stops the collector and deletes every file.
    /// Folds the summary bucket deltas the rounds left unfolded (the collector folds every 30 s
    /// or 200,000 delta rows, so most of the rounds' bucket work would otherwise go uncharged),
    /// and returns how long that took.
    func foldRemaining() async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        try await collector.collector.store.foldBucketDeltas()
        return start.duration(to: clock.now)
    }

    func finish() async {
        for agent in agents { try? await agent.client.shutdown() }
        try? await collector.stop()
        collector.removeFiles()
    }
}
