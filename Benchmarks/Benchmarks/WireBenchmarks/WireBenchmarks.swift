import Benchmark
import BenchmarkSupport
import FleetCore
import Foundation

/// The scaling factor of the throughput benchmarks, equal to the number of
/// events in the measured batch. One iteration handles one whole batch, so
/// the throughput column reads in events per second (its `(K)` unit:
/// thousands of events per second) and the scaled time and malloc columns
/// per event.
var batchScaling: BenchmarkScalingFactor { .kilo }

/// Events in the measured batch.
var eventsPerBatch: Int { batchScaling.rawValue }

/// The zstd level agents ship with (`shipper.zstd_level`, default 3).
let wireLevel: Int32 = Zstd.defaultLevel

/// Registers the wire benchmarks; the boilerplate the BenchmarkPlugin
/// generates calls it.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        warmupIterations: 10,
        scalingFactor: batchScaling,
        maxDuration: .seconds(3),
        maxIterations: 10_000
    )

    Benchmark("Frame encode, 1000 step_finished") { _, fixture in
        blackHole(try BatchFrame.encode(fixture.batch))
    } setup: {
        try WireFixture.make()
    }

    Benchmark("Frame decode, 1000 step_finished") { _, fixture in
        blackHole(try BatchFrame.decode(fixture.frame))
    } setup: {
        try WireFixture.make()
    }

    Benchmark("Frame encodeCompressed zstd-3, 1000 step_finished") { _, fixture in
        blackHole(try BatchFrame.encodeCompressed(fixture.batch, level: wireLevel))
    } setup: {
        try WireFixture.make()
    }

    Benchmark("Frame decodeCompressed zstd-3, 1000 step_finished") { _, fixture in
        blackHole(try BatchFrame.decodeCompressed(fixture.compressed))
    } setup: {
        try WireFixture.make()
    }

    // The agent's loopback API: one NDJSON line per event, as an executor in
    // another language posts them. The reference in the same run is
    // Foundation's JSONDecoder on the same lines (what EventJSON.decode used
    // before it had its own parser), with the same validation.
    Benchmark("Event JSON decode, 1000 step_finished lines") { _, lines in
        for line in lines { blackHole(try EventJSON.decode(line)) }
    } setup: {
        try WireFixture.make().batch.records.map { EventJSON.encode($0.event) }
    }

    Benchmark("Event JSON decode with Foundation JSONDecoder (reference), 1000 step_finished lines") { _, lines in
        for line in lines {
            let event = try JSONDecoder().decode(Event.self, from: Data(line))
            try event.validate()
            blackHole(event)
        }
    } setup: {
        try WireFixture.make().batch.records.map { EventJSON.encode($0.event) }
    }

    // Only the zstd part of encodeCompressed, with one compression context
    // kept across iterations instead of a new one per call.
    Benchmark("Zstd compress frame level 3, reused ZstdCompressor") { _, state in
        blackHole(try state.compressor.compress(state.frame))
    } setup: {
        (frame: try WireFixture.make().frame, compressor: ZstdCompressor(level: wireLevel))
    }

    // Sizes, not speed: one iteration reports them as custom metrics, shown
    // as exact counts, and the setup prints them as a table.
    let sizeMetrics = CompressionReport.Metric.all(includingCLI: ZstdCLI.isAvailable)
    Benchmark(
        "Wire sizes zstd-3: Fleet vs zstd CLI, dictionary vs none",
        configuration: .counts(sizeMetrics)
    ) { benchmark, report in
        report.record(in: benchmark)
    } setup: {
        let batch = try WireFixture.make().batch
        let report = try CompressionReport.measure(batch: batch, level: wireLevel)
        let text = "\n" + StepFinishedWorkload.summary(of: batch) + "\n\n" + report.table + "\n\n"
        FileHandle.standardOutput.write(Data(text.utf8))
        return report
    }
}
