import Benchmark
import BenchmarkSupport
import FleetAgent
import FleetCore
import Foundation

/// Compressed bytes per `step_finished` event in the agent's batches: the
/// events are appended to a real `WriteAheadLog`, read back as the shipper
/// reads them (`WriteAheadLog.read(from:maxEvents:maxBytes:)` with the
/// default `shipper.max_events` and `max_bytes`) and compressed as it does
/// (`BatchFrame.encodeCompressed` at `shipper.zstd_level`, a new context per
/// batch). That is the body of `POST /v1/batches`; HTTP headers and TLS
/// framing (a few hundred bytes per batch) are not counted.
///
/// Two batch sizes: full batches, as while a backlog drains, and batches of
/// 200 events, what 1,000 events/s gives with `shipper.max_linger = 200ms`.
enum WireSizeBenchmark {
    static let events = 20_000
    static let liveBatchEvents = 200
    static let liveBatches = 50

    static let fullMetric = BenchmarkMetric.custom(
        "Full batch zstd-3 (bytes per 1000 events)", polarity: .prefersSmaller, useScalingFactor: false)
    static let liveMetric = BenchmarkMetric.custom(
        "200-event batch zstd-3 (bytes per 1000 events)", polarity: .prefersSmaller, useScalingFactor: false)

    /// Sizes per event, in bytes.
    struct Sizes: Sendable {
        var fullBatchEvents: Int
        var fullBatches: Int
        var fullCompressed: Double
        var fullFrame: Double
        var liveCompressed: Double
        var liveFrame: Double
        var walRecord: Double
        var ndjson: Double

        static func measure() throws -> Sizes {
            let settings = AgentConfiguration().shipper
            let directory = try AgentBenchmarkFiles.makeScratchDirectory("wire-size")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let wal = try WriteAheadLog(directory: directory + "/wal")
            let generated = StepFinishedWorkload.events(events, seed: 0x5EED)
            try wal.append(generated)
            try wal.sync()

            /// Batches of at most `maxEvents` read from the start, as the shipper reads them: (events, frame bytes, compressed bytes) each.
            func batches(maxEvents: Int, count: Int) throws -> [(events: Int, frame: Int, compressed: Int)] {
                var from: UInt64 = 1
                var out: [(Int, Int, Int)] = []
                for _ in 0..<count {
                    let records = wal.read(from: from, maxEvents: maxEvents, maxBytes: settings.maxBytes)
                    guard let last = records.last else { break }
                    let batch = Batch(agentID: "rpa-pc-0042", epoch: wal.epoch, records: records)
                    let compressed = try BatchFrame.encodeCompressed(batch, level: settings.zstdLevel)
                    guard try BatchFrame.decodeCompressed(compressed) == batch else {
                        throw BenchmarkFailure(description: "a batch read from the WAL does not round-trip")
                    }
                    out.append((records.count, try BatchFrame.encode(batch).count, compressed.count))
                    from = last.sequence + 1
                }
                return out
            }
            /// Bytes per event over `batches`.
            func perEvent(_ batches: [(events: Int, frame: Int, compressed: Int)], _ size: KeyPath<(events: Int, frame: Int, compressed: Int), Int>) -> Double {
                Double(batches.reduce(0) { $0 + $1[keyPath: size] }) / Double(batches.reduce(0) { $0 + $1.events })
            }

            let full = try batches(maxEvents: settings.maxEvents, count: events / settings.maxEvents)
            let live = try batches(maxEvents: liveBatchEvents, count: liveBatches)
            guard let firstFull = full.first, !live.isEmpty else {
                throw BenchmarkFailure(description: "the WAL returned no records")
            }
            let ndjson = generated.reduce(0) { $0 + EventJSON.encode($1).count + 1 }
            return Sizes(
                fullBatchEvents: firstFull.events, fullBatches: full.count,
                fullCompressed: perEvent(full, \.compressed), fullFrame: perEvent(full, \.frame),
                liveCompressed: perEvent(live, \.compressed), liveFrame: perEvent(live, \.frame),
                walRecord: Double(wal.stats.backlogBytes) / Double(events),
                ndjson: Double(ndjson) / Double(events))
        }
    }

    static func register() {
        let name = "Wire bytes per step_finished, agent batches zstd-3"
        let metrics = [fullMetric, liveMetric]
        // Printed by the teardown: BenchmarkTool silences what an iteration prints.
        let report = SetupBox<[RunReport.Line]>()
        Benchmark(
            name,
            configuration: .counts(metrics)
        ) { benchmark in
            let sizes = try Sizes.measure()
            benchmark.measurement(fullMetric, Int((sizes.fullCompressed * 1000).rounded()))
            benchmark.measurement(liveMetric, Int((sizes.liveCompressed * 1000).rounded()))
            /// "N.N B/event".
            func bytes(_ value: Double) -> String { Figures.fixed(value, 1) + " B/event" }
            _ = report.keep([
                .init(
                    benchmark: name,
                    figure: "compressed, \(sizes.fullBatches) full batches of \(Figures.grouped(Double(sizes.fullBatchEvents))) events",
                    value: bytes(sizes.fullCompressed), goal: ""),
                .init(
                    benchmark: name, figure: "compressed, \(liveBatches) batches of \(liveBatchEvents) events (1,000/s, 200 ms linger)",
                    value: bytes(sizes.liveCompressed), goal: ""),
                .init(benchmark: name, figure: "frame before zstd, full batches", value: bytes(sizes.fullFrame), goal: ""),
                .init(benchmark: name, figure: "frame before zstd, 200-event batches", value: bytes(sizes.liveFrame), goal: ""),
                .init(benchmark: name, figure: "WAL record (framing, CRC, sequence included)", value: bytes(sizes.walRecord), goal: ""),
                .init(benchmark: name, figure: "NDJSON line (loopback API)", value: bytes(sizes.ndjson), goal: ""),
            ])
        } teardown: {
            if let lines = report.take() { RunReport.add(lines) }
        }
    }
}
