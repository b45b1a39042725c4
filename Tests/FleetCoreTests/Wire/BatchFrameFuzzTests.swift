import FleetTestSupport
import FleetCore
import Testing

/// Feeds the decoder random and mutated frames. It must never trap, never
/// allocate what the input cannot justify, and report each failure as a
/// typed `WireError` (the decoder's signature admits no other error).
@Suite("Batch frame decoder under hostile input")
struct BatchFrameFuzzTests {
    static let seeds: [[UInt8]] = {
        var gen = EventGenerator(seed: 0xFA22)
        return (0..<40).compactMap { i in try? BatchFrame.encode(gen.batch(count: 1 + i % 9)) }
    }()

    /// Mutates a valid frame: bit flips, byte sets, truncation, insertion, deletion, length fields set to huge values.
    static func mutate(_ frame: [UInt8], rng: inout SplitMix64) -> [UInt8] {
        var out = frame
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !out.isEmpty else { break }
            let at = Int.random(in: 0..<out.count, using: &rng)
            switch Int.random(in: 0...6, using: &rng) {
            case 0: out[at] ^= 1 << UInt8.random(in: 0...7, using: &rng)
            case 1: out[at] = UInt8.random(in: 0...255, using: &rng)
            case 2: out.removeSubrange(at...)
            case 3: out.insert(UInt8.random(in: 0...255, using: &rng), at: at)
            case 4: out.remove(at: at)
            case 5:
                // Huge little-endian u32 where the counts and lengths live (after the agent id).
                for i in at..<min(at + 4, out.count) { out[i] = 0xFF }
            default:
                // A run of varint continuation bytes.
                for i in at..<min(at + 11, out.count) { out[i] = 0x80 | out[i] }
            }
        }
        return out
    }

    @Test("100,000 mutated frames give typed errors or valid batches, never a crash")
    func mutatedFrames() {
        var rng = SplitMix64(seed: 0xDEC0DE)
        var rejected = 0
        var accepted = 0
        var reasons: [String: Int] = [:]
        for i in 0..<100_000 {
            let seed = Self.seeds[i % Self.seeds.count]
            let frame = Self.mutate(seed, rng: &rng)
            do {
                let batch = try BatchFrame.decode(frame, limits: BatchLimits(maxRecords: 1000))
                // A mutation that still decodes must decode to something self-consistent.
                #expect(batch.records.count >= 1)
                accepted += 1
            } catch {
                rejected += 1
                reasons[String(error.description.prefix(24)), default: 0] += 1
            }
        }
        #expect(rejected + accepted == 100_000)
        #expect(rejected > 95_000, "mutations should almost always be caught (CRC, lengths)")
        #expect(reasons.count > 5, "failures should be diverse: \(reasons)")
    }

    @Test("20,000 random byte strings, with and without a valid header")
    func randomFrames() {
        var rng = SplitMix64(seed: 0x5EED)
        let header = Array(Self.seeds[0].prefix(8))
        for i in 0..<20_000 {
            var bytes = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if i % 2 == 0 { bytes = header + bytes }
            #expect(throws: WireError.self) { try BatchFrame.decode(bytes) }
        }
    }

    @Test("5,000 mutated compressed frames")
    func mutatedCompressed() throws {
        var rng = SplitMix64(seed: 0xC0)
        let wire = try Self.seeds.map { try BatchFrame.encodeCompressed(BatchFrame.decode($0)) }
        for i in 0..<5_000 {
            let mutated = Self.mutate(wire[i % wire.count], rng: &rng)
            do {
                _ = try BatchFrame.decodeCompressed(mutated, limits: BatchLimits(maxDecompressedBytes: 1 << 20))
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
    }

    @Test("a record count of 4 billion reserves nothing it cannot fill")
    func hugeCountSmallPayload() throws {
        var frame = Self.seeds[0]
        let countOffset = 4 + 1 + 1 + 1 + Int(frame[6]) + 8 + 8 + 8
        for i in 0..<4 { frame[countOffset + i] = 0xFF }
        #expect(throws: WireError.self) { try BatchFrame.decode(frame) }
        #expect(throws: WireError.self) { try BatchFrame.decode(frame, limits: BatchLimits(maxRecords: .max)) }
    }

    @Test("header errors say what is wrong")
    func headerMessages() throws {
        var frame = Self.seeds[1]
        frame[0] = UInt8(ascii: "X")
        #expect(describe(frame) == "not a Fleet batch frame (bad magic)")
        frame = Self.seeds[1]
        frame[4] = 9
        #expect(describe(frame) == "unsupported frame format version 9 (this build reads version 1)")
        frame = Self.seeds[1]
        frame[frame.count - 1] ^= 0x01
        #expect(describe(frame).hasPrefix("payload CRC32C mismatch"))
        frame = Self.seeds[1]
        frame.removeLast(3)
        #expect(describe(frame) == "truncated frame: input ends inside payload")
    }

    func describe(_ frame: [UInt8]) -> String {
        do {
            _ = try BatchFrame.decode(frame)
            return "decoded"
        } catch {
            return error.description
        }
    }
}
