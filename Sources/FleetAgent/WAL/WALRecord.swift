import FleetCore

/// The on-disk framing of the agent's WAL (agent/README.md, "WAL format").
///
/// Segment file `wal/SEQ.wal` (SEQ: first sequence, 16 hex digits):
///   header: magic "FLWS" | version u8 (1) | 3 zero bytes | epoch u64 | first_seq u64
///   records: body_len u32 | crc32c(body) u32 | body
///   body: seq u64 | kind u8 | ts zigzag varint | payload (docs/PROTOCOL.md, "Payloads")
/// All integers little-endian.
enum WALRecord {
    static let magic: [UInt8] = Array("FLWS".utf8)
    static let version: UInt8 = 1
    static let headerBytes = 24
    static let frameHeaderBytes = 8
    /// The smallest frame: 8 header bytes, seq, kind, one ts byte, one flags byte.
    static let minFrameBytes = 8 + 8 + 1 + 1 + 1
    /// A frame larger than this is damage, not data (events are bounded well below).
    static let maxBodyBytes = 1 << 20

    static func header(epoch: WALEpoch, firstSequence: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: headerBytes)
        w.raw(magic)
        w.u8(version)
        w.raw([0, 0, 0])
        w.u64(epoch.rawValue)
        w.u64(firstSequence)
        return w.bytes
    }

    /// (epoch, first sequence) of a segment header, nil when it is not one.
    static func parseHeader(_ bytes: [UInt8]) -> (WALEpoch, UInt64)? {
        guard bytes.count >= headerBytes, Array(bytes[0..<4]) == magic, bytes[4] == version else { return nil }
        return bytes.withUnsafeBytes { raw -> (WALEpoch, UInt64)? in
            var r = ByteReader(raw, start: 8, end: headerBytes)
            guard let epoch = try? r.u64("epoch"), let first = try? r.u64("first_seq") else { return nil }
            return (WALEpoch(rawValue: epoch), first)
        }
    }

    static func appendFrame(sequence: UInt64, event: Event, to out: inout ByteWriter) {
        var body = ByteWriter(capacity: 128)
        body.u64(sequence)
        body.u8(event.kind.code)
        body.zigzag(event.timestamp.microsecondsSinceEpoch)
        EventBinaryCodec.encodePayload(event, into: &body)
        out.u32(UInt32(body.bytes.count))
        out.u32(CRC32C.checksum(body.bytes))
        out.raw(body.bytes)
    }

    /// A frame found at an offset: its sequence, event and total size.
    struct Frame {
        var sequence: UInt64
        var event: Event
        var size: Int
    }

    /// An intact frame's sequence and size, checked (length bounds and CRC) but not decoded:
    /// what a reader needs to skip records it will not send.
    static func header(in raw: UnsafeRawBufferPointer, at offset: Int) -> (sequence: UInt64, size: Int)? {
        guard offset >= 0, raw.count - offset >= frameHeaderBytes else { return nil }
        var r = ByteReader(raw, start: offset, end: offset + frameHeaderBytes)
        guard let length = try? r.u32("len"), let crc = try? r.u32("crc") else { return nil }
        let bodyLength = Int(length)
        guard bodyLength >= minFrameBytes - frameHeaderBytes, bodyLength <= maxBodyBytes,
            raw.count - offset - frameHeaderBytes >= bodyLength
        else { return nil }
        let bodyStart = offset + frameHeaderBytes
        let body = UnsafeRawBufferPointer(rebasing: raw[bodyStart..<(bodyStart + bodyLength)])
        guard CRC32C.checksum(body) == crc else { return nil }
        var b = ByteReader(raw, start: bodyStart, end: bodyStart + bodyLength)
        guard let sequence = try? b.u64("seq") else { return nil }
        return (sequence, frameHeaderBytes + bodyLength)
    }

    /// Decodes the frame at `offset`, or nil if the bytes there are not an intact frame.
    static func frame(in raw: UnsafeRawBufferPointer, at offset: Int) -> Frame? {
        guard let header = header(in: raw, at: offset), let body = body(in: raw, at: offset, checked: header),
            let event = decode(kindCode: body.kindCode, timestamp: body.timestamp, payload: UnsafeRawBufferPointer(rebasing: raw[body.payload]))
        else { return nil }
        return Frame(sequence: header.sequence, event: event, size: header.size)
    }

    /// The frame at `offset` of `data` (whose bytes `raw` are), whose ``header(in:at:)`` the caller
    /// already checked, in its binary form: the payload a slice of `data`. Nil if its kind or
    /// timestamp does not read.
    static func encoded(
        in raw: UnsafeRawBufferPointer, of data: [UInt8], at offset: Int, checked header: (sequence: UInt64, size: Int)
    ) -> EncodedRecord? {
        guard let body = body(in: raw, at: offset, checked: header) else { return nil }
        return EncodedRecord(sequence: header.sequence, kindCode: body.kindCode, timestamp: body.timestamp, payload: data[body.payload])
    }

    /// A checked frame's kind code, timestamp and where its payload is.
    private static func body(
        in raw: UnsafeRawBufferPointer, at offset: Int, checked header: (sequence: UInt64, size: Int)
    ) -> (kindCode: UInt8, timestamp: Int64, payload: Range<Int>)? {
        let bodyEnd = offset + header.size
        var b = ByteReader(raw, start: offset + frameHeaderBytes + 8, end: bodyEnd)
        guard let code = try? b.u8("kind"), EventKind(code: code) != nil, let ts = try? b.zigzag("ts") else { return nil }
        return (code, ts, b.offset..<bodyEnd)
    }

    /// The event of a record, or nil if its payload does not decode.
    static func decode(_ record: EncodedRecord) -> Event? {
        record.payload.withUnsafeBytes { decode(kindCode: record.kindCode, timestamp: record.timestamp, payload: $0) }
    }

    private static func decode(kindCode: UInt8, timestamp micros: Int64, payload: UnsafeRawBufferPointer) -> Event? {
        guard let kind = EventKind(code: kindCode) else { return nil }
        let timestamp = Timestamp(microsecondsSinceEpoch: micros)
        var reader = ByteReader(payload)
        guard let decoded = try? EventBinaryCodec.decodePayload(kind: kind, timestamp: timestamp, from: &reader), reader.isAtEnd else {
            return nil
        }
        return Event(timestamp: timestamp, decoded)
    }
}
