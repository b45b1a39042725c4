import FleetCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The agent's crash-safe log of accepted events: segmented append-only
/// files with length and CRC32C per record. Records are deleted only once
/// the collector has acknowledged every record of their segment, or — when
/// the byte cap is reached — oldest first, each dropped event counted.
///
/// Thread-safe; appends and syncs are meant for one writer, reads and
/// acknowledgements for the shipper.
public final class WriteAheadLog: Sendable {
    /// Options; agent.toml `[wal]`.
    public struct Options: Sendable {
        /// `wal.max_bytes`: cap on segment bytes on disk.
        public var maxBytes = 1 << 30
        /// `wal.segment_bytes`: a segment is sealed past this size.
        public var segmentBytes = 8 << 20
        /// Acknowledgements alone rewrite the state file at most this often (it is replaced and
        /// synced: a rename and two fsyncs, once per batch before). One that frees a segment, a
        /// drop and a new segment still write it at once. What a crash loses of the rest is sent
        /// again, and the collector ignores the duplicates.
        public var stateSaveInterval: Duration = .seconds(5)
        public init(maxBytes: Int = 1 << 30, segmentBytes: Int = 8 << 20, stateSaveInterval: Duration = .seconds(5)) {
            self.maxBytes = maxBytes
            self.segmentBytes = segmentBytes
            self.stateSaveInterval = stateSaveInterval
        }
    }

    /// What recovery found and what the log holds now.
    public struct Stats: Sendable, Equatable {
        public var epoch: WALEpoch
        public var backlogEvents: UInt64
        public var backlogBytes: UInt64
        /// Events dropped, oldest first, at the byte cap (total for this epoch).
        public var droppedEvents: UInt64
        /// Sequence numbers found damaged or missing at start (total for this epoch).
        public var lostEvents: UInt64
        public var nextSequence: UInt64
        public var segments: Int
    }

    struct Segment {
        var path: String
        var firstSequence: UInt64
        /// Last sequence written; firstSequence - 1 when empty.
        var lastSequence: UInt64
        var bytes: Int
        var records: UInt64
    }

    struct State {
        var segments: [Segment] = []
        var activeFD: Int32 = -1
        var nextSequence: UInt64 = 1
        var acked = SequenceRanges()
        /// Sequences already counted as lost, so a restart does not count the same gap again.
        var lostRanges = SequenceRanges()
        var dropped: UInt64 = 0
        var lost: UInt64 = 0
        var dirty = false
        /// Counts appends to segments, so a sync knows whether any landed while it ran.
        var writes: UInt64 = 0
        /// Acknowledgements not yet in the state file (see ``Options/stateSaveInterval``), and when it was last written.
        var ackUnsaved = false
        var lastStateSave = ContinuousClock.now
        /// Per segment path: the file offset before which every record is acknowledged, so reads
        /// start there instead of at the segment's beginning (acknowledgements are never undone).
        var readStart: [String: Int] = [:]
    }

    public let directory: String
    public let epoch: WALEpoch
    let options: Options
    private let state: Mutex<State>

    var statePath: String { directory + "/state" }

    /// Opens (or creates) the WAL in `directory`, recovering from whatever a crash left.
    public init(directory: String, options: Options = Options()) throws(WALError) {
        self.directory = directory
        self.options = options
        try WALFile.makeDirectory(directory)
        let epochPath = directory + "/epoch"
        if let text = WALFile.readAll(epochPath).map({ String(decoding: $0, as: UTF8.self) }),
            let epoch = WALEpoch(hex: text.trimmedSpaces)
        {
            self.epoch = epoch
        } else {
            // A fresh WAL (or one whose epoch file is unreadable: its segments cannot be trusted to be ours).
            let fresh = WALEpoch.random()
            for name in WALFile.list(directory) where name.hasSuffix(".wal") {
                rename(directory + "/" + name, directory + "/" + name + ".orphan")
            }
            try WALFile.replace(epochPath, with: Array((fresh.description + "\n").utf8), directory: directory)
            self.epoch = fresh
        }
        let persisted = PersistedState.load(directory + "/state")
        var recovered = try Self.recover(
            directory: directory, epoch: epoch, accounted: persisted.lostRanges, acknowledged: persisted.acked)
        recovered.acked = persisted.acked
        recovered.dropped = persisted.dropped
        recovered.lost += persisted.lost
        if persisted.nextSequence > recovered.nextSequence {
            // Sequences up to the persisted mark were handed out (and perhaps acknowledged) before.
            recovered.nextSequence = persisted.nextSequence
        }
        state = Mutex(recovered)
        try persistState()
    }

    deinit {
        state.withLock { s in
            if s.ackUnsaved { try? save(&s) }
            if s.activeFD >= 0 { close(s.activeFD) }
        }
    }

    // MARK: Writing

    /// Appends events, assigning consecutive sequence numbers. Not durable until ``sync()``.
    @discardableResult
    public func append(_ events: [Event]) throws(WALError) -> ClosedRange<UInt64>? {
        guard !events.isEmpty else { return nil }
        return try state.withLock { (s: inout State) throws(WALError) -> ClosedRange<UInt64> in
            let first = s.nextSequence
            var buffer = ByteWriter(capacity: min(events.count, 4096) * 128)
            var bufferFirst = first
            for (i, event) in events.enumerated() {
                let sequence = first + UInt64(i)
                if s.activeFD < 0 {
                    try rotate(&s, firstSequence: sequence)
                } else if let active = s.segments.last, active.bytes + buffer.bytes.count >= options.segmentBytes {
                    try flush(&s, buffer.bytes, first: bufferFirst, last: sequence - 1)
                    buffer.bytes.removeAll(keepingCapacity: true)
                    try rotate(&s, firstSequence: sequence)
                    bufferFirst = sequence
                }
                WALRecord.appendFrame(sequence: sequence, event: event, to: &buffer)
            }
            let last = first + UInt64(events.count) - 1
            try flush(&s, buffer.bytes, first: bufferFirst, last: last)
            s.nextSequence = last + 1
            try enforceCap(&s)
            return first...last
        }
    }

    /// Writes frames for sequences `first...last` at the end of the active segment.
    private func flush(_ s: inout State, _ bytes: [UInt8], first: UInt64, last: UInt64) throws(WALError) {
        guard !bytes.isEmpty, last >= first, var active = s.segments.last else { return }
        try WALFile.write(s.activeFD, bytes, at: active.bytes, path: active.path)
        active.bytes += bytes.count
        active.lastSequence = last
        active.records += last - first + 1
        s.segments[s.segments.count - 1] = active
        s.dirty = true
        s.writes &+= 1
    }

    /// Makes every event appended before the call durable (fdatasync).
    ///
    /// The fdatasync runs outside the log's lock, on a duplicate of the active segment's
    /// descriptor (a rotation may close the original meanwhile): reads, acknowledgements and
    /// `stats` do not wait for the disk. Rotation syncs the segment it seals itself, so syncing
    /// the segment active at the call covers every append before it.
    public func sync() throws(WALError) {
        let target = state.withLock { s -> (fd: Int32, path: String, writes: UInt64)? in
            guard s.dirty, s.activeFD >= 0, let active = s.segments.last else { return nil }
            return (dup(s.activeFD), active.path, s.writes)
        }
        guard let target else { return }
        guard target.fd >= 0 else { throw .system("cannot duplicate the descriptor of", target.path) }
        defer { close(target.fd) }
        try WALFile.sync(target.fd, path: target.path)
        // Appends made while the disk synced stay unsynced.
        state.withLock { s in
            if s.writes == target.writes { s.dirty = false }
        }
    }

    private func rotate(_ s: inout State, firstSequence: UInt64) throws(WALError) {
        if s.activeFD >= 0, let last = s.segments.last {
            try WALFile.sync(s.activeFD, path: last.path)
            close(s.activeFD)
            s.activeFD = -1
        }
        let path = directory + "/" + Self.segmentName(firstSequence)
        let fd = try WALFile.open(path, create: true)
        try WALFile.truncate(fd, to: 0, path: path)
        try WALFile.write(fd, WALRecord.header(epoch: epoch, firstSequence: firstSequence), at: 0, path: path)
        try WALFile.sync(fd, path: path)
        WALFile.syncDirectory(directory)
        s.activeFD = fd
        s.segments.append(
            Segment(path: path, firstSequence: firstSequence, lastSequence: firstSequence - 1, bytes: WALRecord.headerBytes, records: 0))
        // Record the high-water mark of handed-out sequences with each new segment.
        try save(&s, nextSequence: firstSequence)
    }

    /// Drops whole segments, oldest first, while the log is over its byte cap; counts unacknowledged events dropped.
    private func enforceCap(_ s: inout State) throws(WALError) {
        var changed = false
        while s.segments.count > 1 && s.segments.reduce(0, { $0 + $1.bytes }) > options.maxBytes {
            let oldest = s.segments.removeFirst()
            if oldest.lastSequence >= oldest.firstSequence {
                s.dropped += oldest.records - s.acked.count(in: oldest.firstSequence...oldest.lastSequence)
            }
            unlink(oldest.path)
            s.readStart[oldest.path] = nil
            changed = true
        }
        if changed {
            s.acked.removeBelow(s.segments.first?.firstSequence ?? s.nextSequence)
            s.lostRanges.removeBelow(s.segments.first?.firstSequence ?? s.nextSequence)
            try save(&s)
        }
    }

    /// Writes the state file (with `nextSequence` as the high-water mark, the current one by default).
    private func save(_ s: inout State, nextSequence: UInt64? = nil) throws(WALError) {
        try PersistedState(acked: s.acked, lostRanges: s.lostRanges, dropped: s.dropped, lost: s.lost, nextSequence: nextSequence ?? s.nextSequence)
            .save(statePath, directory: directory)
        s.ackUnsaved = false
        s.lastStateSave = .now
    }

    // MARK: Reading and acknowledging

    /// Up to `maxEvents` unacknowledged records with sequence ≥ `from`, in order, at most about `maxBytes` of frames,
    /// decoded. (The shipper sends ``readEncoded(from:maxEvents:maxBytes:)`` as it is.)
    public func read(from: UInt64, maxEvents: Int, maxBytes: Int = 4 << 20) -> [Batch.Record] {
        readEncoded(from: from, maxEvents: maxEvents, maxBytes: maxBytes).compactMap { record in
            WALRecord.decode(record).map { Batch.Record(sequence: record.sequence, event: $0) }
        }
    }

    /// Up to `maxEvents` unacknowledged records with sequence ≥ `from`, in order, at most about `maxBytes` of frames,
    /// in their binary form. Reads each segment from the end of its acknowledged prefix. Every record was decoded
    /// once, by recovery or before it was appended, so none is decoded here.
    public func readEncoded(from: UInt64, maxEvents: Int, maxBytes: Int = 4 << 20) -> [EncodedRecord] {
        let (segments, acked, starts) = state.withLock { ($0.segments, $0.acked, $0.readStart) }
        var out: [EncodedRecord] = []
        var bytes = 0
        var advanced: [String: Int] = [:]
        for segment in segments where segment.lastSequence >= from && segment.lastSequence >= segment.firstSequence {
            if acked.covers(max(from, segment.firstSequence)...segment.lastSequence) { continue }
            let start = starts[segment.path] ?? WALRecord.headerBytes
            let fd = Glibc.open(segment.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            let data = WALFile.read(fd, count: WALFile.size(fd) - start, at: start)
            close(fd)
            data.withUnsafeBytes { raw in
                var offset = 0
                // Still inside the acknowledged prefix: where the next read may start.
                var prefix = true
                while offset < raw.count, out.count < maxEvents, bytes < maxBytes {
                    guard let header = WALRecord.header(in: raw, at: offset) else {
                        prefix = false
                        offset += 1  // damaged region found at recovery: resynchronise
                        continue
                    }
                    let isAcked = acked.contains(header.sequence)
                    if prefix && isAcked {
                        advanced[segment.path] = start + offset + header.size
                    } else {
                        prefix = false
                    }
                    if header.sequence >= from && !isAcked, let record = WALRecord.encoded(in: raw, of: data, at: offset, checked: header) {
                        out.append(record)
                        bytes += header.size
                    }
                    offset += header.size
                }
            }
            if out.count >= maxEvents || bytes >= maxBytes { break }
        }
        if !advanced.isEmpty {
            state.withLock { s in
                let live = Set(s.segments.map(\.path))
                for (path, offset) in advanced where live.contains(path) {
                    s.readStart[path] = max(s.readStart[path] ?? 0, offset)
                }
            }
        }
        return out
    }

    /// Records the collector's acknowledgement and deletes segments whose every record is
    /// acknowledged. The state file is written at once when segments go (before they do: a
    /// restart must not count a deleted segment's records as lost), otherwise at most every
    /// ``Options/stateSaveInterval``; ``saveAcknowledgements(ifDue:)`` writes what is left.
    public func acknowledge(_ range: ClosedRange<UInt64>) throws(WALError) {
        try state.withLock { (s: inout State) throws(WALError) in
            s.acked.insert(range)
            // Any sealed segment whose records are all acknowledged goes, wherever it is: while a
            // backlog drains, live batches acknowledge the newest segments first, and those must not
            // keep occupying the byte cap.
            let active = s.segments.count - 1
            var kept: [Segment] = []
            var gone: [String] = []
            for (i, segment) in s.segments.enumerated() {
                let empty = segment.lastSequence < segment.firstSequence
                if i < active && (empty || s.acked.covers(segment.firstSequence...segment.lastSequence)) {
                    gone.append(segment.path)
                } else {
                    kept.append(segment)
                }
            }
            guard !gone.isEmpty || ContinuousClock.now - s.lastStateSave >= options.stateSaveInterval else {
                s.ackUnsaved = true
                return
            }
            try save(&s)
            for path in gone { unlink(path) }
            s.segments = kept
            let live = Set(kept.map(\.path))
            s.readStart = s.readStart.filter { live.contains($0.key) }
            s.acked.removeBelow(s.segments.first?.firstSequence ?? s.nextSequence)
            s.lostRanges.removeBelow(s.segments.first?.firstSequence ?? s.nextSequence)
        }
    }

    /// Writes acknowledgements that ``acknowledge(_:)`` has not written yet: at once (shutdown), or
    /// `ifDue` only once ``Options/stateSaveInterval`` has passed since the last write (the shipper,
    /// when it finds nothing to send).
    public func saveAcknowledgements(ifDue: Bool = false) throws(WALError) {
        try state.withLock { (s: inout State) throws(WALError) in
            guard s.ackUnsaved, !ifDue || ContinuousClock.now - s.lastStateSave >= options.stateSaveInterval else { return }
            try save(&s)
        }
    }

    public var stats: Stats {
        state.withLock { s in
            var backlog: UInt64 = 0
            for segment in s.segments where segment.lastSequence >= segment.firstSequence {
                backlog += segment.records - min(segment.records, s.acked.count(in: segment.firstSequence...segment.lastSequence))
            }
            return Stats(
                epoch: epoch, backlogEvents: backlog, backlogBytes: UInt64(s.segments.reduce(0) { $0 + $1.bytes }),
                droppedEvents: s.dropped, lostEvents: s.lost, nextSequence: s.nextSequence, segments: s.segments.count)
        }
    }

    func persistState() throws(WALError) {
        try state.withLock { (s: inout State) throws(WALError) in try save(&s) }
    }

    static func segmentName(_ firstSequence: UInt64) -> String {
        let hex = String(firstSequence, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex + ".wal"
    }
}
