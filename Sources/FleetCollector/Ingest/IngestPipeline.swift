import FleetCore
import Logging
import ServiceLifecycle
import Synchronization

/// Group commit: ingest requests queue here and one writer merges as many as
/// are waiting (up to `commitMaxEvents`) in a single durable transaction,
/// then answers each. A request is answered only after its transaction
/// committed. The queue is bounded: when full, `submit` answers `.overloaded`
/// at once (HTTP 503 with Retry-After) instead of letting memory grow.
///
/// Between merges, every `foldInterval` or once 200,000 delta rows wait
/// (summaries read them all), the writer folds the summary bucket deltas
/// the merges appended (``FleetStore/foldBucketDeltas()``).
public final class IngestPipeline: Service, Sendable {
    public enum SubmitResult: Sendable {
        case committed(MergeOutcome)
        case overloaded
        case shuttingDown
        case failed(String)
    }

    struct Pending {
        var batch: ReceivedBatch
        var continuation: CheckedContinuation<SubmitResult, Never>
    }

    struct State {
        var queue: [Pending] = []
        var head = 0
        var accepting = true
        /// Batches the writer has taken and is merging.
        var merging = 0
        var lastFold = ContinuousClock.now
        var queuedCount: Int { queue.count - head }
    }

    let store: FleetStore
    let capacity: Int
    let commitMaxEvents: Int
    let foldInterval: Duration
    let logger: Logger
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    public init(store: FleetStore, capacity: Int, commitMaxEvents: Int, foldInterval: Duration = .seconds(30), logger: Logger) {
        self.store = store
        self.capacity = capacity
        self.commitMaxEvents = commitMaxEvents
        self.foldInterval = foldInterval
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Delta rows that trigger a fold before `foldInterval` is up.
    static let foldRows = 200_000

    /// Batches waiting for the writer.
    public var queueDepth: Int { state.withLock { $0.queuedCount } }

    /// Batches the writer has taken off the queue and is merging now.
    public var mergingCount: Int { state.withLock { $0.merging } }

    /// Queues a batch and waits until it is committed (or refused).
    public func submit(_ batch: ReceivedBatch) async -> SubmitResult {
        await withCheckedContinuation { continuation in
            let refusal: SubmitResult? = state.withLock { state in
                guard state.accepting else { return .shuttingDown }
                guard state.queuedCount < capacity else { return .overloaded }
                state.queue.append(Pending(batch: batch, continuation: continuation))
                return nil
            }
            if let refusal {
                continuation.resume(returning: refusal)
            } else {
                wake.yield()
            }
        }
    }

    /// The writer. On graceful shutdown it stops accepting, commits what is queued, and returns.
    public func run() async throws {
        await withGracefulShutdownHandler {
            for await _ in wakeups {
                await drain()
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.accepting = false }
            self.wake.finish()
        }
        // Anything queued between the last wakeup and finish().
        await drain()
        await fold()
    }

    private func fold() async {
        do {
            try await store.foldBucketDeltas()
        } catch {
            logger.error("folding summary bucket deltas failed", metadata: ["error": "\(error)"])
        }
        state.withLock { $0.lastFold = .now }
    }

    private func drain() async {
        while true {
            let group: [Pending] = state.withLock { state in
                var taken: [Pending] = []
                var events = 0
                while state.head < state.queue.count {
                    let next = state.queue[state.head]
                    let n = next.batch.batch.records.count
                    if !taken.isEmpty && events + n > commitMaxEvents { break }
                    taken.append(next)
                    events += n
                    state.head += 1
                }
                if state.head > 1024 && state.head * 2 > state.queue.count {
                    state.queue.removeFirst(state.head)
                    state.head = 0
                } else if state.head == state.queue.count {
                    state.queue.removeAll(keepingCapacity: true)
                    state.head = 0
                }
                state.merging = taken.count
                return taken
            }
            if group.isEmpty { return }
            do {
                let outcomes = try await store.merge(group.map(\.batch))
                for (pending, outcome) in zip(group, outcomes) {
                    pending.continuation.resume(returning: .committed(outcome))
                }
            } catch {
                // One bad batch must not fail the others it was grouped with: retry each alone.
                logger.warning("group merge failed; retrying batches one by one", metadata: ["error": "\(error)", "batches": "\(group.count)"])
                for pending in group {
                    do {
                        let outcome = try await store.merge([pending.batch])
                        pending.continuation.resume(returning: outcome.first.map { .committed($0) } ?? .failed("no outcome"))
                    } catch {
                        logger.error(
                            "merge failed; batch not acknowledged",
                            metadata: ["agent": "\(pending.batch.batch.agentID)", "error": "\(error)"])
                        pending.continuation.resume(returning: .failed("\(error)"))
                    }
                }
            }
            state.withLock { $0.merging = 0 }
            // After the group is answered, so no acknowledgement waits for a fold.
            if store.deltaRowsPending >= Self.foldRows || state.withLock({ $0.lastFold }).duration(to: .now) >= foldInterval {
                await fold()
            }
        }
    }
}
