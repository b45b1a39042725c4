import FleetCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension WriteAheadLog {
    /// Scans every segment at start. Intact records are kept, whatever
    /// surrounds them: after a damaged frame the scan resynchronises on the
    /// next frame whose length, CRC and sequence check out. A damaged segment
    /// is rewritten with its intact records and the original moved aside as
    /// `NAME.wal.corrupt-N`; a zero-length segment is removed. Missing
    /// sequence numbers are counted as lost; for a damaged tail, where the
    /// number of records cannot be known, the count is an upper bound from
    /// the damaged bytes, and sequence numbers skip past it so none is reused.
    static func recover(
        directory: String, epoch: WALEpoch, accounted: SequenceRanges, acknowledged: SequenceRanges
    ) throws(WALError) -> State {
        var state = State()
        state.lostRanges = accounted
        // Acknowledged sequences may be missing on disk legitimately (their segment was deleted): never lost.
        state.acked = acknowledged
        let names = WALFile.list(directory).filter { $0.hasSuffix(".wal") && $0.count == 20 }
            .compactMap { name -> (UInt64, String)? in UInt64(name.prefix(16), radix: 16).map { ($0, name) } }
            .sorted { $0.0 < $1.0 }
        var expected: UInt64? = nil
        for (_, name) in names {
            let path = directory + "/" + name
            guard let bytes = WALFile.readAll(path) else { continue }
            if bytes.isEmpty {
                unlink(path)
                continue
            }
            guard let (segmentEpoch, first) = WALRecord.parseHeader(bytes), segmentEpoch == epoch else {
                moveAside(path)
                continue
            }
            var good: [(sequence: UInt64, range: Range<Int>)] = []
            var damagedBytes = 0
            var tailDamage = 0
            var tornFrame = false
            bytes.withUnsafeBytes { raw in
                var offset = WALRecord.headerBytes
                var damageStart: Int? = nil
                var last = first &- 1
                while offset < raw.count {
                    if let frame = WALRecord.frame(in: raw, at: offset), frame.sequence > last || (good.isEmpty && frame.sequence >= first) {
                        if let start = damageStart { damagedBytes += offset - start }
                        damageStart = nil
                        good.append((frame.sequence, offset..<(offset + frame.size)))
                        last = frame.sequence
                        offset += frame.size
                    } else {
                        if damageStart == nil { damageStart = offset }
                        offset += 1
                    }
                }
                if let start = damageStart {
                    tailDamage = raw.count - start
                    damagedBytes += tailDamage
                    // A frame header whose length runs past the end: a write torn by a crash, one record.
                    if raw.count - start >= WALRecord.frameHeaderBytes {
                        var r = ByteReader(raw, start: start, end: start + 4)
                        if let length = try? r.u32("len"), Int(length) <= WALRecord.maxBodyBytes,
                            start + WALRecord.frameHeaderBytes + Int(length) > raw.count
                        {
                            tornFrame = true
                        }
                    }
                }
            }
            // Sequences missing between segments, at the segment start, and between intact records.
            var next = max(expected ?? first, first)
            if let e = expected, first > e { state.countLost(e...(first - 1)) }
            for record in good {
                if record.sequence > next { state.countLost(next...(record.sequence - 1)) }
                next = record.sequence + 1
            }
            if tailDamage > 0 {
                let bound = tornFrame ? 1 : max(1, UInt64(tailDamage / WALRecord.minFrameBytes))
                state.countLost(next...(next + bound - 1))
                next += bound
            }
            expected = next
            if damagedBytes > 0 {
                // Keep the intact records in place; keep the damaged original for inspection.
                var rewritten = WALRecord.header(epoch: epoch, firstSequence: first)
                for record in good { rewritten.append(contentsOf: bytes[record.range]) }
                moveAside(path)
                try WALFile.replace(path, with: rewritten, directory: directory)
            }
            let size = WALRecord.headerBytes + good.reduce(0) { $0 + $1.range.count }
            state.segments.append(
                Segment(
                    path: path, firstSequence: first, lastSequence: good.last?.sequence ?? (first &- 1), bytes: size,
                    records: UInt64(good.count)))
        }
        state.nextSequence = max(expected ?? 1, 1)
        if let last = state.segments.last {
            let fd = try WALFile.open(last.path, create: false)
            try WALFile.truncate(fd, to: last.bytes, path: last.path)
            state.activeFD = fd
        }
        return state
    }

    static func moveAside(_ path: String) {
        var n = 1
        while access("\(path).corrupt-\(n)", F_OK) == 0 { n += 1 }
        rename(path, "\(path).corrupt-\(n)")
    }
}

extension WriteAheadLog.State {
    /// Counts the sequences of `range` as lost, once: ones counted at an earlier start are skipped.
    mutating func countLost(_ range: ClosedRange<UInt64>) {
        var known = lostRanges
        for r in acked.ranges { known.insert(r) }
        lost += UInt64(range.count) - known.count(in: range)
        lostRanges.insert(range)
    }
}
