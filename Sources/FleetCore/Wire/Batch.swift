/// What an agent ships in one `POST /v1/batches`: a run of consecutive WAL
/// records of one agent and epoch, in ascending sequence order.
public struct Batch: Sendable, Hashable {
    /// One WAL record: its sequence number and the event.
    public struct Record: Sendable, Hashable {
        public var sequence: UInt64
        public var event: Event

        public init(sequence: UInt64, event: Event) {
            self.sequence = sequence
            self.event = event
        }
    }

    public var agentID: String
    public var epoch: WALEpoch
    public var records: [Record]

    public init(agentID: String, epoch: WALEpoch, records: [Record]) {
        self.agentID = agentID
        self.epoch = epoch
        self.records = records
    }

    public var firstSequence: UInt64? { records.first?.sequence }
    public var lastSequence: UInt64? { records.last?.sequence }

    /// The records with their full envelope.
    public var sequencedEvents: [SequencedEvent] {
        records.map { SequencedEvent(agentID: agentID, epoch: epoch, sequence: $0.sequence, event: $0.event) }
    }
}

/// A record still in the binary form of docs/PROTOCOL.md, "Payloads": what
/// a sender that never needs the event itself (the agent's shipper, reading
/// its WAL) puts into a frame as it is, without decoding and re-encoding it.
public struct EncodedRecord: Sendable, Hashable {
    public var sequence: UInt64
    /// ``EventKind/code``.
    public var kindCode: UInt8
    /// Microseconds since the epoch.
    public var timestamp: Int64
    /// The kind's payload; a slice shares the buffer it was read from.
    public var payload: ArraySlice<UInt8>

    public init(sequence: UInt64, kindCode: UInt8, timestamp: Int64, payload: ArraySlice<UInt8>) {
        self.sequence = sequence
        self.kindCode = kindCode
        self.timestamp = timestamp
        self.payload = payload
    }
}

/// Bounds the decoder enforces, whatever the frame claims.
public struct BatchLimits: Sendable, Hashable {
    /// Records in one batch. Config key (collector): `ingest.max_records_per_batch`.
    public var maxRecords: Int = 100_000
    /// Bytes of one decompressed frame. Config key (collector): `ingest.max_decompressed_bytes`.
    public var maxDecompressedBytes: Int = 64 << 20

    public init(maxRecords: Int = 100_000, maxDecompressedBytes: Int = 64 << 20) {
        self.maxRecords = maxRecords
        self.maxDecompressedBytes = maxDecompressedBytes
    }
}
