// The batch frame, byte by byte in docs/PROTOCOL.md:
//
//   magic "FLTB" | version u8 | flags u8 | agent_id_len u8 | agent_id
//   | epoch u64 | first_seq u64 | last_seq u64 | record_count u32
//   | payload_len u32 | payload_crc32c u32 | payload
//
// All integers little-endian. The payload is `record_count` records, each
// `body_len varint | kind u8 | seq_delta varint | ts_delta zigzag | payload`.
// On the wire the whole frame is one zstd frame.

/// Encodes and decodes batch frames, compressed or not.
public enum BatchFrame {
    public static let magic: [UInt8] = Array("FLTB".utf8)
    public static let formatVersion: UInt8 = 1
    /// Fixed header bytes besides the agent id.
    static let fixedHeaderBytes = 4 + 1 + 1 + 1 + 8 + 8 + 8 + 4 + 4 + 4
    /// The smallest record: length, kind, seq delta, ts delta, flags.
    static let minRecordBytes = 5

    // MARK: Encoding

    /// The uncompressed frame of `batch`. Records must have strictly
    /// ascending sequence numbers starting at 1 or more; events should be validated.
    public static func encode(_ batch: Batch) throws(WireError) -> [UInt8] {
        try frame(agentID: batch.agentID, epoch: batch.epoch, count: batch.records.count) { (records) throws(WireError) in
            for record in batch.records {
                try records.append(sequence: record.sequence, kindCode: record.event.kind.code, timestamp: record.event.timestamp.microsecondsSinceEpoch) {
                    EventBinaryCodec.encodePayload(record.event, into: &$0)
                }
            }
        }
    }

    /// The uncompressed frame of records already in the binary form (the agent's WAL), their
    /// payloads copied as they are. The same rules as ``encode(_:)``.
    public static func encode(agentID: String, epoch: WALEpoch, records encoded: [EncodedRecord]) throws(WireError) -> [UInt8] {
        try frame(agentID: agentID, epoch: epoch, count: encoded.count) { (records) throws(WireError) in
            for record in encoded {
                try records.append(sequence: record.sequence, kindCode: record.kindCode, timestamp: record.timestamp) { $0.raw(record.payload) }
            }
        }
    }

    /// Builds the frame's record payload: each record's length, kind, deltas and payload.
    struct RecordWriter {
        var payload: ByteWriter
        var body = ByteWriter(capacity: 256)
        var first: UInt64?
        var previousSeq: UInt64 = 0
        var previousTs: Int64 = 0

        mutating func append(
            sequence: UInt64, kindCode: UInt8, timestamp: Int64, payload writePayload: (inout ByteWriter) -> Void
        ) throws(WireError) {
            if first == nil {
                guard sequence >= 1 else { throw WireError(.sequenceMismatch("sequences start at 1")) }
                first = sequence
                previousSeq = sequence - 1
            }
            guard sequence > previousSeq else {
                throw WireError(.sequenceMismatch("record \(sequence) does not follow \(previousSeq)"))
            }
            body.bytes.removeAll(keepingCapacity: true)
            body.u8(kindCode)
            body.varint(sequence - previousSeq)
            body.zigzag(timestamp &- previousTs)
            writePayload(&body)
            payload.varint(UInt64(body.bytes.count))
            payload.raw(body.bytes)
            previousSeq = sequence
            previousTs = timestamp
        }
    }

    /// The header and the payload `writeRecords` fills with `count` records.
    static func frame(
        agentID: String, epoch: WALEpoch, count: Int, writeRecords: (inout RecordWriter) throws(WireError) -> Void
    ) throws(WireError) -> [UInt8] {
        if let why = AgentID.problem(with: agentID) { throw WireError(.invalidAgentID(why)) }
        guard count > 0 else { throw WireError(.emptyBatch) }
        guard count <= Int(UInt32.max) else {
            throw WireError(.tooManyRecords(count: UInt64(count), limit: Int(UInt32.max)))
        }
        var records = RecordWriter(payload: ByteWriter(capacity: count * 96))
        try writeRecords(&records)
        guard let first = records.first else { throw WireError(.emptyBatch) }
        let last = records.previousSeq
        let payload = records.payload.bytes
        guard payload.count <= Int(UInt32.max) else {
            throw WireError(.lengthOutOfBounds(field: "payload", length: UInt64(payload.count), limit: UInt64(UInt32.max)))
        }

        var w = ByteWriter(capacity: fixedHeaderBytes + agentID.utf8.count + payload.count)
        w.raw(magic)
        w.u8(formatVersion)
        w.u8(0)
        w.u8(UInt8(agentID.utf8.count))
        w.raw(agentID.utf8)
        w.u64(epoch.rawValue)
        w.u64(first)
        w.u64(last)
        w.u32(UInt32(count))
        w.u32(UInt32(payload.count))
        w.u32(CRC32C.checksum(payload))
        w.raw(payload)
        return w.bytes
    }

    /// The frame compressed with zstd, as sent on the wire.
    public static func encodeCompressed(
        _ batch: Batch, level: Int32 = Zstd.defaultLevel, dictionary: ZstdDictionary? = nil
    ) throws(WireError) -> [UInt8] {
        try encodeCompressed(batch, with: ZstdCompressor(level: level, dictionary: dictionary))
    }

    /// The frame compressed with a context kept by the caller: a sender of many batches
    /// (the agent's shipper) saves making, zeroing and freeing a zstd context each time.
    public static func encodeCompressed(_ batch: Batch, with compressor: ZstdCompressor) throws(WireError) -> [UInt8] {
        try compress(encode(batch), with: compressor)
    }

    /// Records already in the binary form, framed and compressed with a kept context.
    public static func encodeCompressed(
        agentID: String, epoch: WALEpoch, records: [EncodedRecord], with compressor: ZstdCompressor
    ) throws(WireError) -> [UInt8] {
        try compress(encode(agentID: agentID, epoch: epoch, records: records), with: compressor)
    }

    static func compress(_ frame: [UInt8], with compressor: ZstdCompressor) throws(WireError) -> [UInt8] {
        do {
            return try compressor.compress(frame)
        } catch {
            throw WireError(.compression(error))
        }
    }

    // MARK: Decoding

    /// Decompresses (refusing more than `limits.maxDecompressedBytes` while
    /// decompressing) and decodes a wire frame.
    public static func decodeCompressed(
        _ compressed: some Collection<UInt8>, limits: BatchLimits = BatchLimits(), dictionary: ZstdDictionary? = nil
    ) throws(WireError) -> Batch {
        let frame: [UInt8]
        do {
            frame = try Zstd.decompress(compressed, maxOutputBytes: limits.maxDecompressedBytes, dictionary: dictionary)
        } catch {
            throw WireError(.compression(error))
        }
        return try decode(frame, limits: limits)
    }

    /// Decodes an uncompressed frame, checking every length, the CRC, the
    /// sequence run and each event's validity.
    public static func decode(_ frame: [UInt8], limits: BatchLimits = BatchLimits()) throws(WireError) -> Batch {
        let result = frame.withUnsafeBytes { raw in
            Result { () throws(WireError) -> Batch in try decode(raw, limits: limits) }
        }
        return try result.get()
    }

    static func decode(_ raw: UnsafeRawBufferPointer, limits: BatchLimits) throws(WireError) -> Batch {
        var r = ByteReader(raw)
        for expected in magic {
            guard try r.u8("magic") == expected else { throw WireError(.badMagic) }
        }
        let version = try r.u8("version")
        guard version == formatVersion else { throw WireError(.unsupportedVersion(version)) }
        guard try r.u8("flags") == 0 else { throw WireError(.reservedBitsSet(field: "header flags")) }
        let agentID = try r.string("agent_id", limit: AgentID.maxLength)
        if let why = AgentID.problem(with: agentID) { throw WireError(.invalidAgentID(why)) }
        let epoch = WALEpoch(rawValue: try r.u64("epoch"))
        let first = try r.u64("first_seq")
        let last = try r.u64("last_seq")
        let count = try r.u32("record_count")
        let payloadLength = try r.u32("payload_len")
        let crc = try r.u32("payload_crc32c")

        guard count >= 1 else { throw WireError(.emptyBatch) }
        guard count <= limits.maxRecords else {
            throw WireError(.tooManyRecords(count: UInt64(count), limit: limits.maxRecords))
        }
        guard first >= 1, last >= first else {
            throw WireError(.sequenceMismatch("first_seq \(first), last_seq \(last)"))
        }
        guard last - first >= UInt64(count) - 1 else {
            throw WireError(.sequenceMismatch("\(count) records cannot fit in \(first)...\(last)"))
        }
        guard Int(payloadLength) <= r.remaining else { throw WireError(.truncated(field: "payload")) }
        guard Int(payloadLength) == r.remaining else {
            throw WireError(.trailingBytes(field: "payload", count: r.remaining - Int(payloadLength)))
        }
        let payloadStart = r.offset
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[payloadStart..<r.end]))
        guard actual == crc else { throw WireError(.checksumMismatch(expected: crc, actual: actual)) }
        // A record takes at least minRecordBytes, so the payload bounds what we reserve.
        guard UInt64(count) * UInt64(minRecordBytes) <= UInt64(payloadLength) else {
            throw WireError(.recordCountMismatch(declared: UInt64(count), actual: UInt64(payloadLength) / UInt64(minRecordBytes)))
        }

        var records: [Batch.Record] = []
        records.reserveCapacity(Int(count))
        var previousSeq = first - 1
        var previousTs: Int64 = 0
        while !r.isAtEnd {
            let index = records.count
            guard index < Int(count) else {
                throw WireError(.recordCountMismatch(declared: UInt64(count), actual: UInt64(index) + 1))
            }
            let bodyLength = try r.count("record \(index) length", limit: r.remaining)
            let bodyStart = r.offset
            try r.skip(bodyLength, "record \(index)")
            var body = ByteReader(raw, start: bodyStart, end: bodyStart + bodyLength)
            let kindCode = try body.u8("record \(index) kind")
            guard let kind = EventKind(code: kindCode) else { throw WireError(.unknownKind(kindCode)) }
            let delta = try body.varint("record \(index) seq_delta")
            guard delta >= 1, delta <= last - previousSeq else {
                throw WireError(.sequenceMismatch("record \(index) sequence delta \(delta) leaves \(previousSeq)...\(last)"))
            }
            let sequence = previousSeq + delta
            if index == 0, sequence != first {
                throw WireError(.sequenceMismatch("first record has sequence \(sequence), header says \(first)"))
            }
            let tsDelta = try body.zigzag("record \(index) ts_delta")
            let (ts, overflow) = previousTs.addingReportingOverflow(tsDelta)
            guard !overflow else { throw WireError(.varintOverflow(field: "record \(index) ts_delta")) }
            let timestamp = Timestamp(microsecondsSinceEpoch: ts)
            let payload = try EventBinaryCodec.decodePayload(kind: kind, timestamp: timestamp, from: &body)
            guard body.isAtEnd else {
                throw WireError(.trailingBytes(field: "record \(index)", count: body.remaining))
            }
            let event = Event(timestamp: timestamp, payload)
            do {
                try event.validate()
            } catch {
                throw WireError(.invalidEvent(record: index, error))
            }
            records.append(Batch.Record(sequence: sequence, event: event))
            previousSeq = sequence
            previousTs = ts
        }
        guard records.count == Int(count) else {
            throw WireError(.recordCountMismatch(declared: UInt64(count), actual: UInt64(records.count)))
        }
        guard previousSeq == last else {
            throw WireError(.sequenceMismatch("last record has sequence \(previousSeq), header says \(last)"))
        }
        return Batch(agentID: agentID, epoch: epoch, records: records)
    }
}
