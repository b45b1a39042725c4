import FleetCore
import Synchronization

/// What the shipper knows about delivery, for `/v1/health` and `agent_status` events.
public final class ShipperStatus: Sendable {
    public struct Snapshot: Sendable, Encodable {
        public var collectorReachable: Bool
        public var lastAckedSequence: UInt64?
        public var lastError: String?
        public var batchesSent: UInt64
        enum CodingKeys: String, CodingKey {
            case collectorReachable = "collector_reachable", lastAckedSequence = "last_acked_seq"
            case lastError = "last_error", batchesSent = "batches_sent"
        }
    }

    private let state = Mutex(Snapshot(collectorReachable: false, lastAckedSequence: nil, lastError: nil, batchesSent: 0))

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    func acknowledged(through sequence: UInt64) {
        state.withLock {
            $0.collectorReachable = true
            $0.lastError = nil
            $0.batchesSent += 1
            $0.lastAckedSequence = max($0.lastAckedSequence ?? 0, sequence)
        }
    }

    func failed(_ message: String, reachable: Bool) {
        state.withLock {
            $0.collectorReachable = reachable
            $0.lastError = message
        }
    }
}
