import FleetTestSupport
import FleetCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("zstd")
struct ZstdTests {
    @Test("round-trips, including empty and incompressible input")
    func roundTrip() throws {
        var rng = SplitMix64(seed: 3)
        for size in [0, 1, 100, 70_000, 1 << 20] {
            let random = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let compressed = try Zstd.compress(random)
            #expect(try Zstd.decompress(compressed, maxOutputBytes: 2 << 20) == random, "size \(size)")
        }
    }

    @Test("a frame expanding to 1 GiB is refused at the cap, without allocating the 1 GiB")
    func bombRefused() throws {
        let bomb = zstdBomb(expandingTo: 1 << 30)
        #expect(bomb.count < 1 << 20, "the bomb is a small frame: \(bomb.count) bytes")
        let before = peakRSSBytes()
        do {
            _ = try Zstd.decompress(bomb, maxOutputBytes: 64 << 20)
            Issue.record("the bomb was decompressed")
        } catch {
            #expect(error.isOutputLimit)
            #expect(error.description == "decompressed size exceeds the limit of 67108864 bytes")
        }
        let after = peakRSSBytes()
        #expect(after - before < 256 << 20, "peak RSS grew by \((after - before) >> 20) MiB")
        // Through the batch decoder it is a size-limit error (HTTP 413), not a malformed frame.
        do {
            _ = try BatchFrame.decodeCompressed(bomb)
            Issue.record("the bomb was decoded")
        } catch {
            #expect(error.isSizeLimit)
        }
    }

    @Test("truncated and garbage input are typed errors")
    func truncated() throws {
        let compressed = try Zstd.compress(Array(repeating: 7, count: 10_000))
        #expect(throws: ZstdError.self) { try Zstd.decompress(compressed.dropLast(3), maxOutputBytes: 1 << 20) }
        #expect(throws: ZstdError.self) { try Zstd.decompress([1, 2, 3, 4, 5], maxOutputBytes: 1 << 20) }
        #expect(throws: ZstdError.self) { try Zstd.decompress([], maxOutputBytes: 1 << 20) }
        #expect(throws: ZstdError.self) { try Zstd.decompress(compressed + [0, 1, 2], maxOutputBytes: 1 << 20) }
    }

    @Test("a trained dictionary is used on both ends and shrinks small batches")
    func dictionary() throws {
        var gen = EventGenerator(seed: 11)
        func stepBatch(_ n: Int) throws -> [UInt8] {
            var records: [Batch.Record] = []
            for i in 0..<n {
                let ts = Timestamp(microsecondsSinceEpoch: 1_795_000_000_000_000 + Int64(i) * 400_000)
                records.append(
                    .init(
                        sequence: UInt64(i + 1),
                        event: Event(
                            timestamp: ts,
                            .stepFinished(
                                StepFinished(
                                    executionID: "exec-\(gen.int(1000...9999))", workflowID: "invoice-entry-v\(gen.int(1...3))",
                                    nodeID: "node-\(gen.int(1...40))", stepNumber: gen.int(1...40), actionType: ["click", "type", "wait"][gen.int(0...2)],
                                    startedAt: ts, finishedAt: ts, success: true, ocrMs: Double(gen.int(20_000...400_000)) / 1000,
                                    totalMs: Double(gen.int(100_000...900_000)) / 1000)))))
            }
            return try BatchFrame.encode(Batch(agentID: "pc-1", epoch: WALEpoch(rawValue: 5), records: records))
        }
        let samples = try (0..<200).map { _ in try stepBatch(20) }
        let dictionary = try ZstdDictionary.train(samples: samples, capacity: 8 << 10)
        let frame = try stepBatch(20)
        let with = try Zstd.compress(frame, dictionary: dictionary)
        let without = try Zstd.compress(frame)
        #expect(with.count < without.count)
        #expect(try Zstd.decompress(with, maxOutputBytes: 1 << 20, dictionary: dictionary) == frame)
        #expect(throws: ZstdError.self) { try Zstd.decompress(with, maxOutputBytes: 1 << 20) }
    }
}
