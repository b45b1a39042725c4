import FleetCore

/// The records of one agent's WAL as a test writes them: sequences from 1, in the order appended.
struct RecordLog {
    private(set) var records: [Batch.Record] = []

    /// Appends an event at `micros` (microseconds since the epoch) with the next sequence.
    mutating func append(_ micros: Int64, _ payload: EventPayload) {
        records.append(
            Batch.Record(
                sequence: UInt64(records.count + 1), event: Event(timestamp: Timestamp(microsecondsSinceEpoch: micros), payload)))
    }
}
