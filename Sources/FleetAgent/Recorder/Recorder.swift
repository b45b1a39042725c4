import FleetCore
import Synchronization

/// Where an executor's events enter the agent. `record(_:)` never blocks on
/// I/O and never awaits: it appends to an in-memory queue under a lock and
/// wakes the WAL writer, which assigns sequence numbers and writes. The
/// queue is bounded; if the writer cannot keep up (disk stalled) events
/// beyond the bound are counted as dropped rather than making the executor wait.
public final class Recorder: Sendable {
    struct Queue {
        var events: [Event] = []
        /// Callers of recordDurably: where their events start in `events`, how many, who to resume.
        var waiters: [(offset: Int, count: Int, continuation: CheckedContinuation<ClosedRange<UInt64>?, any Error>)] = []
        var dropped: UInt64 = 0
        var closed = false
        /// A wake-up is on its way to the writer, which has not drained since: later events need
        /// none. (One `yield` per event cost half of `record`'s time at 1,000 events/s.)
        var wakePending = false

        /// Whether the caller that just queued events must wake the writer.
        mutating func needsWake() -> Bool {
            defer { wakePending = true }
            return !wakePending
        }
    }

    let capacity: Int
    private let queue = Mutex(Queue())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    /// - Parameter capacity: events waiting for the writer before `record` starts dropping.
    public init(capacity: Int = 100_000) {
        self.capacity = capacity
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Hands an event to the WAL writer. Returns false if it was dropped (queue full or shutting down).
    @discardableResult
    /// The event is consumed: a caller's last use moves it into the queue without copying it
    /// (a copy retains each of its strings).
    public func record(_ event: consuming Event) -> Bool {
        var event = Optional(event)
        let (accepted, signal) = queue.withLock { q -> (Bool, Bool) in
            guard !q.closed, q.events.count < capacity, let taken = event.take() else {
                q.dropped += 1
                return (false, false)
            }
            q.events.append(taken)
            return (true, q.needsWake())
        }
        if signal { wake.yield() }
        return accepted
    }

    /// Hands events to the writer and waits until they are durable in the WAL;
    /// returns their sequence numbers. Used by the loopback API, which answers 2xx only then.
    public func recordDurably(_ events: [Event]) async throws -> ClosedRange<UInt64>? {
        guard !events.isEmpty else { return nil }
        return try await withCheckedThrowingContinuation { continuation in
            let outcome = queue.withLock { q -> Result<Bool, WALError> in
                guard !q.closed else { return .failure(WALError("the agent is shutting down")) }
                // Bounded like record(): a stalled writer must not let callers grow memory.
                guard q.events.count + events.count <= max(capacity, events.count) || q.events.isEmpty else {
                    return .failure(WALError("the agent's queue is full (\(q.events.count) events waiting for the WAL); retry shortly"))
                }
                q.waiters.append((q.events.count, events.count, continuation))
                q.events.append(contentsOf: events)
                return .success(q.needsWake())
            }
            switch outcome {
            case .failure(let refusal): continuation.resume(throwing: refusal)
            case .success(let signal): if signal { wake.yield() }
            }
        }
    }

    /// Events dropped because the queue was full.
    public var droppedEvents: UInt64 { queue.withLock { $0.dropped } }

    // MARK: Writer side

    /// What the writer takes in one go: events, and who waits for which of them.
    struct Drained {
        var events: [Event]
        /// For each waiter: its events' offset in `events`, its count, its continuation.
        var waiters: [(offset: Int, count: Int, continuation: CheckedContinuation<ClosedRange<UInt64>?, any Error>)]
    }

    /// Takes what is queued. Events queued after it wake the writer again.
    func drain() -> Drained {
        queue.withLock { q in
            defer {
                q.events.removeAll(keepingCapacity: true)
                q.waiters.removeAll()
                q.wakePending = false
            }
            return Drained(events: q.events, waiters: q.waiters)
        }
    }

    var wakeupStream: AsyncStream<Void> { wakeups }

    func close() {
        queue.withLock { $0.closed = true }
        wake.finish()
    }
}
