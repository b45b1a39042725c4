import FleetCore

/// The WAL's small state file (`wal/state`), replaced atomically: the
/// acknowledged ranges, the totals of dropped and lost events, and the
/// high-water mark of handed-out sequence numbers (so a damaged tail never
/// lets a sequence number be reused). A missing or damaged file means
/// nothing acknowledged: records are sent again and the collector drops the
/// duplicates.
struct PersistedState {
    var acked: SequenceRanges
    var lostRanges: SequenceRanges
    var dropped: UInt64
    var lost: UInt64
    var nextSequence: UInt64

    static let magic: [UInt8] = Array("FLST".utf8)

    static func load(_ path: String) -> PersistedState {
        let empty = PersistedState(acked: SequenceRanges(), lostRanges: SequenceRanges(), dropped: 0, lost: 0, nextSequence: 1)
        guard let bytes = WALFile.readAll(path), bytes.count >= 4 + 8 * 3 + 4 + 4 + 4, Array(bytes[0..<4]) == magic else { return empty }
        let body = Array(bytes[0..<(bytes.count - 4)])
        return bytes.withUnsafeBytes { raw -> PersistedState in
            var tail = ByteReader(raw, start: bytes.count - 4)
            guard let crc = try? tail.u32("crc"), crc == CRC32C.checksum(body) else { return empty }
            var r = ByteReader(raw, start: 4, end: bytes.count - 4)
            guard let next = try? r.u64("next"), let dropped = try? r.u64("dropped"), let lost = try? r.u64("lost"),
                let count = try? r.u32("ranges"), Int(count) * 16 <= r.remaining
            else { return empty }
            func ranges(_ count: UInt32) -> SequenceRanges? {
                var out: [ClosedRange<UInt64>] = []
                for _ in 0..<count {
                    guard let lo = try? r.u64("lo"), let hi = try? r.u64("hi"), lo <= hi else { return nil }
                    out.append(lo...hi)
                }
                return SequenceRanges(out)
            }
            guard let acked = ranges(count), let lostCount = try? r.u32("lost ranges"), Int(lostCount) * 16 <= r.remaining,
                let lostRanges = ranges(lostCount)
            else { return empty }
            return PersistedState(acked: acked, lostRanges: lostRanges, dropped: dropped, lost: lost, nextSequence: max(next, 1))
        }
    }

    func save(_ path: String, directory: String) throws(WALError) {
        var w = ByteWriter(capacity: 64 + acked.ranges.count * 16)
        w.raw(Self.magic)
        w.u64(nextSequence)
        w.u64(dropped)
        w.u64(lost)
        w.u32(UInt32(acked.ranges.count))
        for r in acked.ranges {
            w.u64(r.lowerBound)
            w.u64(r.upperBound)
        }
        w.u32(UInt32(lostRanges.ranges.count))
        for r in lostRanges.ranges {
            w.u64(r.lowerBound)
            w.u64(r.upperBound)
        }
        w.u32(CRC32C.checksum(w.bytes))
        try WALFile.replace(path, with: w.bytes, directory: directory)
    }
}
