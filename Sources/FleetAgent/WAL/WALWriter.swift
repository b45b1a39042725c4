import FleetCore
import Logging
import NIOPosix
import ServiceLifecycle

/// The WAL's single writer: takes what the ``Recorder`` queued, appends it
/// (assigning sequence numbers), and syncs with group commit — fdatasync at
/// most every `syncInterval`, or after every append with `syncInterval == nil`
/// (`wal.sync_interval = "always"`). A `recordDurably` caller (the loopback
/// API answers only then) waits for the group commit its events join: at
/// most `syncInterval` after the previous sync, so concurrent callers share
/// one fdatasync.
/// The fdatasync runs on a thread of the writer's own, so a slow disk holds up neither the
/// event loop the agent's tasks share nor other blocking work.
/// On graceful shutdown it stops the recorder, writes and syncs what is queued, and returns.
public struct WALWriter: Service {
    let wal: WriteAheadLog
    let recorder: Recorder
    let syncInterval: Duration?
    let logger: Logger

    public init(wal: WriteAheadLog, recorder: Recorder, syncInterval: Duration? = .milliseconds(100), logger: Logger) {
        self.wal = wal
        self.recorder = recorder
        self.syncInterval = syncInterval
        self.logger = logger
    }

    public func run() async throws {
        let syncThread = NIOThreadPool(numberOfThreads: 1)
        syncThread.start()
        defer { syncThread.shutdownGracefully { _ in } }
        var state = WriterState(syncThread: syncThread)
        await withGracefulShutdownHandler {
            for await _ in recorder.wakeupStream {
                appendQueued(&state)
                guard state.unsynced else { continue }
                if let interval = syncInterval {
                    // Group commit: at most one fdatasync per interval; what arrives meanwhile joins it.
                    let wait = interval - (ContinuousClock.now - state.lastSync)
                    if wait > .zero {
                        try? await EventLoopTaskExecutor.sleep(for: wait)
                        appendQueued(&state)
                    }
                }
                await syncNow(&state)
            }
        } onGracefulShutdown: {
            recorder.close()
        }
        appendQueued(&state)
        await syncNow(&state)
    }

    struct WriterState {
        let syncThread: NIOThreadPool
        var unsynced = false
        var lastSync = ContinuousClock.now
        /// recordDurably callers whose events are written but not yet synced, with their sequences.
        var pending: [(ClosedRange<UInt64>, CheckedContinuation<ClosedRange<UInt64>?, any Error>)] = []
    }

    private func appendQueued(_ state: inout WriterState) {
        let drained = recorder.drain()
        guard !drained.events.isEmpty else { return }
        do {
            guard let range = try wal.append(drained.events) else { return }
            for waiter in drained.waiters {
                let lo = range.lowerBound + UInt64(waiter.offset)
                state.pending.append((lo...(lo + UInt64(waiter.count) - 1), waiter.continuation))
            }
            state.unsynced = true
        } catch {
            logger.error("WAL append failed", metadata: ["error": "\(error)", "events": "\(drained.events.count)"])
            for waiter in drained.waiters { waiter.continuation.resume(throwing: error) }
        }
    }

    private func syncNow(_ state: inout WriterState) async {
        guard state.unsynced else { return }
        do {
            try await state.syncThread.runIfActive { [wal] in try wal.sync() }
            for (range, continuation) in state.pending { continuation.resume(returning: range) }
        } catch {
            logger.error("WAL sync failed", metadata: ["error": "\(error)"])
            for (_, continuation) in state.pending { continuation.resume(throwing: error) }
        }
        state.pending = []
        state.unsynced = false
        state.lastSync = ContinuousClock.now
    }
}
