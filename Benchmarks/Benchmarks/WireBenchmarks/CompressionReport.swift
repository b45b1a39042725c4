import Benchmark
import BenchmarkSupport
import FleetCore
import Foundation

/// Wire sizes of `step_finished` batches: Fleet's zstd wrapper against the
/// `zstd` CLI on the same frame, and a trained dictionary against none for
/// the small batches an agent ships when it is nearly idle.
struct CompressionReport {
    /// The zstd level of every compressed size.
    var level: Int32
    /// Events in the large batch (the one the throughput benchmarks use).
    var events: Int
    /// The uncompressed frame of the large batch.
    var frameBytes: Int
    /// The same events as NDJSON (`EventJSON`, one line each), for scale.
    var ndjsonBytes: Int
    /// The NDJSON compressed by Fleet's wrapper.
    var ndjsonCompressedBytes: Int
    /// The frame compressed by Fleet's wrapper (`BatchFrame.encodeCompressed`).
    var compressedBytes: Int
    /// The frame compressed by `zstd -<level> -c`; nil when the CLI is not installed.
    var cliBytes: Int?
    /// Events in each small batch.
    var smallBatchEvents: Int
    /// How many held-out small batches the two means below cover.
    var smallBatchCount: Int
    /// Mean compressed bytes of a small batch without a dictionary.
    var smallBatchBytes: Double
    /// Mean compressed bytes of a small batch with the trained dictionary.
    var smallBatchDictionaryBytes: Double
    /// Size of the trained dictionary.
    var dictionaryBytes: Int
    /// How many small batches the dictionary was trained on.
    var trainingBatchCount: Int

    /// The custom metrics `record(in:)` reports, all plain byte counts or
    /// per-mille ratios that do not scale with iterations.
    enum Metric {
        static let frame = size("Frame bytes (1000 events, uncompressed)")
        static let compressed = size("zstd-3 bytes (1000 events, Fleet)")
        static let cli = size("zstd-3 bytes (1000 events, zstd CLI)")
        static let ratioToCLI = size("Fleet/CLI size (per mille)")
        static let smallBatch = size("zstd-3 bytes (100 events, no dictionary)")
        static let smallBatchDictionary = size("zstd-3 bytes (100 events, dictionary)")

        /// A custom metric where smaller is better and iterations do not scale it.
        private static func size(_ name: String) -> BenchmarkMetric {
            .custom(name, polarity: .prefersSmaller, useScalingFactor: false)
        }

        /// Every metric, leaving out the CLI ones when the CLI is missing.
        static func all(includingCLI: Bool) -> [BenchmarkMetric] {
            [frame, compressed] + (includingCLI ? [cli, ratioToCLI] : []) + [smallBatch, smallBatchDictionary]
        }
    }

    /// Measures every size for `batch` at zstd `level`, training a dictionary
    /// on `trainingBatchCount` other PCs' batches of `smallBatchEvents`
    /// events and testing it on `smallBatchCount` further ones.
    static func measure(
        batch: Batch, level: Int32, smallBatchEvents: Int = 100, trainingBatchCount: Int = 100,
        smallBatchCount: Int = 10
    ) throws -> CompressionReport {
        let frame = try BatchFrame.encode(batch)
        let compressed = try BatchFrame.encodeCompressed(batch, level: level)
        guard try BatchFrame.decodeCompressed(compressed) == batch else {
            throw BenchmarkFailure(description: "the compressed frame does not decode to the batch")
        }
        let cliBytes = ZstdCLI.isAvailable ? try ZstdCLI.compress(frame, level: Int(level)).count : nil

        var ndjson: [UInt8] = []
        for record in batch.records {
            ndjson += EventJSON.encode(record.event)
            ndjson.append(UInt8(ascii: "\n"))
        }

        // Seeds 1_000… train the dictionary and 2_000… test it: no test batch was seen in training.
        let training = try (0..<trainingBatchCount).map { i in
            try BatchFrame.encode(smallBatch(events: smallBatchEvents, pc: 1_000 + i))
        }
        let dictionary = try ZstdDictionary.train(samples: training, level: level)
        var plainTotal = 0
        var dictionaryTotal = 0
        for i in 0..<smallBatchCount {
            let small = smallBatch(events: smallBatchEvents, pc: 2_000 + i)
            plainTotal += try BatchFrame.encodeCompressed(small, level: level).count
            let withDictionary = try BatchFrame.encodeCompressed(small, level: level, dictionary: dictionary)
            guard try BatchFrame.decodeCompressed(withDictionary, dictionary: dictionary) == small else {
                throw BenchmarkFailure(description: "a dictionary-compressed frame does not decode to its batch")
            }
            dictionaryTotal += withDictionary.count
        }

        return CompressionReport(
            level: level,
            events: batch.records.count,
            frameBytes: frame.count,
            ndjsonBytes: ndjson.count,
            ndjsonCompressedBytes: try Zstd.compress(ndjson, level: level).count,
            compressedBytes: compressed.count,
            cliBytes: cliBytes,
            smallBatchEvents: smallBatchEvents,
            smallBatchCount: smallBatchCount,
            smallBatchBytes: Double(plainTotal) / Double(smallBatchCount),
            smallBatchDictionaryBytes: Double(dictionaryTotal) / Double(smallBatchCount),
            dictionaryBytes: dictionary.bytes.count,
            trainingBatchCount: trainingBatchCount
        )
    }

    /// A small batch from PC number `pc`, which has its own seed, agent id and sequence range.
    private static func smallBatch(events: Int, pc: Int) -> Batch {
        StepFinishedWorkload.batch(
            events: events, seed: 0x5EED_0000 + UInt64(pc), agentID: "rpa-pc-\(pc)",
            firstSequence: UInt64(pc) * 10_000 + 1)
    }

    /// Compressed size of the large frame relative to the CLI's (1.0 = same bytes).
    var ratioToCLI: Double? {
        cliBytes.map { Double(compressedBytes) / Double($0) }
    }

    /// Reports the sizes as custom metrics of `benchmark`.
    func record(in benchmark: Benchmark) {
        benchmark.measurement(Metric.frame, frameBytes)
        benchmark.measurement(Metric.compressed, compressedBytes)
        if let cliBytes, let ratioToCLI {
            benchmark.measurement(Metric.cli, cliBytes)
            benchmark.measurement(Metric.ratioToCLI, Int((ratioToCLI * 1000).rounded()))
        }
        benchmark.measurement(Metric.smallBatch, Int(smallBatchBytes.rounded()))
        benchmark.measurement(Metric.smallBatchDictionary, Int(smallBatchDictionaryBytes.rounded()))
    }

    /// The sizes as a plain table, for stdout.
    var table: String {
        let large = "\(events)-event batch"
        let small = "\(smallBatchEvents)-event batch, mean of \(smallBatchCount)"
        var lines = [
            "Fleet wire sizes: step_finished events, zstd level \(level)",
            pad("", Self.labelWidth) + pad("bytes", 10, right: true) + pad("bytes/event", 13, right: true),
            row("\(large): frame, uncompressed", Double(frameBytes), per: events),
            row("\(large): NDJSON (EventJSON), uncompressed", Double(ndjsonBytes), per: events),
            row("\(large): NDJSON, Fleet zstd", Double(ndjsonCompressedBytes), per: events),
            row("\(large): frame, Fleet zstd (encodeCompressed)", Double(compressedBytes), per: events),
        ]
        if let cliBytes, let ratioToCLI {
            lines.append(row("\(large): frame, zstd CLI (\(ZstdCLI.path) -\(level))", Double(cliBytes), per: events))
            lines.append(pad("  Fleet / CLI size", Self.labelWidth) + pad(format(ratioToCLI, 3), 23, right: true))
        } else {
            lines.append("\(large): frame, zstd CLI: not measured (\(ZstdCLI.path) not installed)")
        }
        lines += [
            row("\(small): no dictionary", smallBatchBytes, per: smallBatchEvents),
            row("\(small): dictionary", smallBatchDictionaryBytes, per: smallBatchEvents),
            pad("  dictionary / no dictionary", Self.labelWidth)
                + pad(format(smallBatchDictionaryBytes / smallBatchBytes, 3), 23, right: true),
            "  (dictionary: \(dictionaryBytes) bytes, trained on \(trainingBatchCount) frames of "
                + "\(smallBatchEvents) events from other PCs)",
        ]
        return lines.joined(separator: "\n")
    }

    /// Width of the label column of `table`.
    private static let labelWidth = 58

    /// One table row: a label, a byte count and bytes per event.
    private func row(_ label: String, _ bytes: Double, per events: Int) -> String {
        pad(label, Self.labelWidth) + pad(format(bytes, 0), 10, right: true)
            + pad(format(bytes / Double(events), 1), 13, right: true)
    }

    /// `value` with `decimals` digits after the point.
    private func format(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }

    /// `text` padded with spaces to `width` characters, on the left when `right`.
    private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return right ? fill + text : text + fill
    }
}
