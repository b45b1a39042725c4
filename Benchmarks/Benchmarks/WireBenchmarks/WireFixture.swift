import BenchmarkSupport
import FleetCore

/// The batch the throughput benchmarks measure, with its encodings, built
/// once in each benchmark's setup and checked to round-trip.
struct WireFixture {
    /// `eventsPerBatch` `step_finished` events from one PC.
    var batch: Batch
    /// `BatchFrame.encode(batch)`.
    var frame: [UInt8]
    /// `BatchFrame.encodeCompressed(batch, level: wireLevel)`.
    var compressed: [UInt8]

    /// Builds the batch of PC `rpa-pc-0042` (seed 42) and encodes it both ways.
    static func make() throws -> WireFixture {
        let batch = StepFinishedWorkload.batch(
            events: eventsPerBatch, seed: 42, agentID: "rpa-pc-0042", firstSequence: 48_001)
        let frame = try BatchFrame.encode(batch)
        let compressed = try BatchFrame.encodeCompressed(batch, level: wireLevel)
        guard try BatchFrame.decode(frame) == batch, try BatchFrame.decodeCompressed(compressed) == batch else {
            throw BenchmarkFailure(description: "the benchmark batch does not round-trip through its frame")
        }
        return WireFixture(batch: batch, frame: frame, compressed: compressed)
    }
}
