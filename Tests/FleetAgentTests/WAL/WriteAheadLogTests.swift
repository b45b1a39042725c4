import FleetCore
import FleetTestSupport
import Testing

@testable import FleetAgent

#if canImport(Glibc)
import Glibc
#endif


func events(_ n: Int, from start: Int = 0) -> [Event] {
    (start..<(start + n)).map { i in
        Event(
            timestamp: Timestamp(microsecondsSinceEpoch: 1_795_000_000_000_000 + Int64(i) * 1000),
            .metric(MetricSample(name: "m", kind: .counter, value: Double(i), labels: ["i": "\(i)"])))
    }
}

func segmentFiles(_ dir: String) -> [String] {
    WALFile.list(dir).filter { $0.hasSuffix(".wal") }.sorted()
}

func flipBit(_ path: String, at offset: Int) {
    guard var bytes = WALFile.readAll(path), offset < bytes.count else { return }
    bytes[offset] ^= 0x10
    let fd = open(path, O_WRONLY)
    _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    close(fd)
}

@Suite("Write-ahead log")
struct WriteAheadLogTests {
    @Test("appended events read back identical after reopening; epoch and sequences continue")
    func appendAndReopen() throws {
        let dir = temporaryDirectory()
        let written = events(500)
        let epoch: WALEpoch
        do {
            let wal = try WriteAheadLog(directory: dir, options: .init(segmentBytes: 8 << 10))
            #expect(try wal.append(Array(written[0..<200])) == 1...200)
            #expect(try wal.append(Array(written[200...])) == 201...500)
            try wal.sync()
            epoch = wal.epoch
            #expect(wal.stats.segments > 1)
        }
        let wal = try WriteAheadLog(directory: dir, options: .init(segmentBytes: 8 << 10))
        #expect(wal.epoch == epoch)
        let read = wal.read(from: 1, maxEvents: 1000, maxBytes: 1 << 30)
        #expect(read.map(\.sequence) == Array(1...500))
        #expect(read.map(\.event) == written)
        #expect(wal.stats.lostEvents == 0)
        #expect(try wal.append(events(1)) == 501...501)
        // A fresh directory is a fresh epoch.
        #expect(try WriteAheadLog(directory: temporaryDirectory()).epoch != epoch)
    }

    @Test("records sent as read from the WAL frame the same bytes as their events encoded again, for every kind")
    func encodedRecordsFrameLikeEvents() throws {
        let dir = temporaryDirectory()
        var gen = EventGenerator(seed: 0x3A1_F4A3)
        let written = (0..<3_000).map { _ in gen.event() }
        let wal = try WriteAheadLog(directory: dir, options: .init(segmentBytes: 64 << 10))
        _ = try wal.append(written)
        try wal.acknowledge(1...700)
        let encoded = wal.readEncoded(from: 1, maxEvents: 5_000, maxBytes: 1 << 30)
        let decoded = wal.read(from: 1, maxEvents: 5_000, maxBytes: 1 << 30)
        #expect(encoded.map(\.sequence) == Array(701...3_000))
        #expect(decoded.map(\.event) == Array(written[700...]))
        let passedThrough = try BatchFrame.encode(agentID: "pc-1", epoch: wal.epoch, records: encoded)
        let reencoded = try BatchFrame.encode(Batch(agentID: "pc-1", epoch: wal.epoch, records: decoded))
        #expect(passedThrough == reencoded)
        #expect(try BatchFrame.decode(passedThrough).records == decoded)
    }

    @Test("a torn tail is truncated: every intact record kept, one lost, its sequence never reused")
    func tornTail() throws {
        let dir = temporaryDirectory()
        do {
            let wal = try WriteAheadLog(directory: dir)
            try wal.append(events(100))
            try wal.sync()
        }
        let segment = dir + "/" + (segmentFiles(dir).last ?? "")
        let size = WALFile.readAll(segment)?.count ?? 0
        #expect(truncate(segment, off_t(size - 5)) == 0)
        let wal = try WriteAheadLog(directory: dir)
        #expect(wal.read(from: 1, maxEvents: 1000).map(\.sequence) == Array(1...99))
        #expect(wal.stats.lostEvents == 1)
        #expect(try wal.append(events(1)) == 101...101)
    }

    @Test("random bit flips: the agent starts, keeps every intact record, counts the lost, and does not count them twice")
    func bitFlips() throws {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<10 {
            let dir = temporaryDirectory()
            let written = events(300)
            do {
                let wal = try WriteAheadLog(directory: dir, options: .init(segmentBytes: 4 << 10))
                try wal.append(written)
                try wal.sync()
            }
            let files = segmentFiles(dir)
            for _ in 0..<(1 + round % 4) {
                let file = dir + "/" + (files.randomElement(using: &rng) ?? "")
                let size = WALFile.readAll(file)?.count ?? 0
                flipBit(file, at: Int.random(in: WALRecord.headerBytes..<max(WALRecord.headerBytes + 1, size), using: &rng))
            }
            let wal = try WriteAheadLog(directory: dir, options: .init(segmentBytes: 4 << 10))
            let read = wal.read(from: 1, maxEvents: 1000)
            // Whatever was kept is exactly what was written under that sequence.
            for record in read { #expect(record.event == written[Int(record.sequence) - 1]) }
            let missing = UInt64(300 - read.count)
            #expect(missing >= 1)
            #expect(wal.stats.lostEvents >= missing, "round \(round)")
            // Damage in a sealed segment is counted exactly; only a damaged tail is an upper bound.
            #expect(WALFile.list(dir).contains { $0.contains(".corrupt-") })
            let lost = wal.stats.lostEvents
            let again = try WriteAheadLog(directory: dir, options: .init(segmentBytes: 4 << 10))
            #expect(again.stats.lostEvents == lost)
            #expect(again.read(from: 1, maxEvents: 1000).map(\.sequence) == read.map(\.sequence))
            #expect(try again.append(events(1)).map { $0.lowerBound > 300 } == true)
        }
    }

    @Test("a zero-length segment is removed and the agent starts")
    func zeroLengthSegment() throws {
        let dir = temporaryDirectory()
        do {
            let wal = try WriteAheadLog(directory: dir)
            try wal.append(events(10))
            try wal.sync()
        }
        let empty = dir + "/" + WriteAheadLog.segmentName(11)
        close(open(empty, O_CREAT | O_WRONLY, 0o600))
        let wal = try WriteAheadLog(directory: dir)
        #expect(wal.read(from: 1, maxEvents: 100).count == 10)
        #expect(wal.stats.lostEvents == 0)
        #expect(access(empty, F_OK) != 0)
        #expect(try wal.append(events(1)) == 11...11)
    }

    @Test("acknowledged segments are deleted and acknowledgements survive a restart")
    func acknowledgements() throws {
        let dir = temporaryDirectory()
        do {
            let wal = try WriteAheadLog(directory: dir, options: .init(segmentBytes: 4 << 10))
            try wal.append(events(400))
            try wal.sync()
            let before = wal.stats.segments
            try wal.acknowledge(1...300)
            #expect(wal.stats.segments < before)
            #expect(wal.stats.backlogEvents == 100)
            try wal.acknowledge(350...360)
            #expect(wal.stats.backlogEvents == 89)
        }
        let wal = try WriteAheadLog(directory: dir, options: .init(segmentBytes: 4 << 10))
        let unacked = wal.read(from: 1, maxEvents: 1000).map(\.sequence)
        #expect(unacked == Array(301...349) + Array(361...400))
        #expect(wal.stats.backlogEvents == 89)
    }

    @Test("the state file gets an acknowledgement at once when it frees a segment, otherwise when saved")
    func acknowledgementWrites() throws {
        let dir = temporaryDirectory()
        // An interval no test run reaches, so that nothing depends on the machine's speed.
        let wal = try WriteAheadLog(directory: dir, options: .init(segmentBytes: 4 << 10, stateSaveInterval: .seconds(3600)))
        try wal.append(events(400))
        try wal.sync()
        let before = wal.stats.segments
        try wal.acknowledge(1...300)
        #expect(wal.stats.segments < before)
        #expect(PersistedState.load(dir + "/state").acked.covers(1...300))
        // Within the interval of that write, and no segment freed: held back …
        try wal.acknowledge(350...360)
        #expect(!PersistedState.load(dir + "/state").acked.covers(350...360))
        #expect(wal.stats.backlogEvents == 89)
        // … until the shipper saves it.
        try wal.saveAcknowledgements()
        #expect(PersistedState.load(dir + "/state").acked.covers(350...360))
    }

    @Test("at the byte cap the oldest unacknowledged events are dropped and counted exactly")
    func byteCap() throws {
        let dir = temporaryDirectory()
        let wal = try WriteAheadLog(directory: dir, options: .init(maxBytes: 32 << 10, segmentBytes: 4 << 10))
        for i in 0..<50 { try wal.append(events(100, from: i * 100)) }
        try wal.sync()
        let stats = wal.stats
        #expect(stats.backlogBytes <= 32 << 10 + 8 << 10)
        let kept = wal.read(from: 1, maxEvents: 100_000, maxBytes: 1 << 30).map(\.sequence)
        #expect(stats.droppedEvents == 5000 - UInt64(kept.count))
        #expect(stats.backlogEvents == UInt64(kept.count))
        // The newest survive, the oldest went first.
        #expect(kept.last == 5000)
        #expect(kept == Array((5001 - UInt64(kept.count))...5000))
        // Acknowledged events are not counted as dropped.
        let dir2 = temporaryDirectory()
        let wal2 = try WriteAheadLog(directory: dir2, options: .init(maxBytes: 32 << 10, segmentBytes: 4 << 10))
        try wal2.append(events(300))
        try wal2.acknowledge(1...300)
        for i in 0..<50 { try wal2.append(events(100, from: i * 100)) }
        let kept2 = wal2.read(from: 1, maxEvents: 100_000, maxBytes: 1 << 30).count
        #expect(wal2.stats.droppedEvents == 5000 - UInt64(kept2))
        // The drop count survives a restart.
        let dropped = wal.stats.droppedEvents
        #expect(try WriteAheadLog(directory: dir, options: .init(maxBytes: 32 << 10, segmentBytes: 4 << 10)).stats.droppedEvents == dropped)
    }
}

@Suite("Write-ahead log, live-first acknowledgements")
struct WriteAheadLogLiveFirstTests {
    @Test("acknowledging the newest records first frees their segments; a restart counts nothing lost")
    func newestFirst() throws {
        let dir = temporaryDirectory()
        do {
            let wal = try WriteAheadLog(directory: dir, options: .init(segmentBytes: 4 << 10))
            try wal.append(events(1000))
            try wal.sync()
            let before = wal.stats
            try wal.acknowledge(600...1000)
            #expect(wal.stats.segments < before.segments)
            #expect(wal.stats.backlogBytes < before.backlogBytes)
            #expect(wal.stats.backlogEvents == 599)
        }
        let wal = try WriteAheadLog(directory: dir, options: .init(segmentBytes: 4 << 10))
        #expect(wal.stats.lostEvents == 0)
        #expect(wal.read(from: 1, maxEvents: 2000).map(\.sequence) == Array(1...599))
        #expect(try wal.append(events(1)) == 1001...1001)
    }
}
