import NIOCore
import NIOPosix

/// Runs the agent's tasks on one NIO event loop: the loop its loopback
/// server and its HTTP client already use. On Swift's default global
/// executor every `await` on network I/O hopped between a NIO thread and a
/// libdispatch worker, a thread wake-up each way; at 1,000 events/s those
/// hops were a large part of the agent's CPU. `Agent.run()` installs it as
/// the task executor preference of its services (children inherit it).
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// `Task.sleep(for:)` on the timer of the event loop the caller runs on, if it runs on one.
    /// `Task.sleep` always goes through libdispatch's timer thread and a dispatch worker before
    /// the task hops back to its loop: three thread wake-ups per sleep, where the loop's own
    /// timer needs none. Throws `CancellationError` when the task is cancelled, like `Task.sleep`.
    static func sleep(for duration: Duration) async throws {
        guard let loop = MultiThreadedEventLoopGroup.currentEventLoop else {
            try await Task.sleep(for: duration)
            return
        }
        try Task.checkCancellation()
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds >= Int64.max / 1_000_000_000 ? Int64.max : max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        let timer = loop.scheduleTask(in: .nanoseconds(nanoseconds)) {}
        do {
            try await withTaskCancellationHandler {
                try await timer.futureResult.get()
            } onCancel: {
                timer.cancel()
            }
        } catch {
            throw CancellationError()
        }
    }

    /// ``sleep(for:)`` until a continuous-clock instant.
    static func sleep(until instant: ContinuousClock.Instant) async throws {
        try await sleep(for: ContinuousClock.now.duration(to: instant))
    }
}

/// Work that blocks its thread — child processes, nvidia-smi, directory walks — must not run
/// on the agent's event loop: the loopback API, the WAL writer and the shipper would wait for
/// it. It runs on NIO's blocking thread pool (`NIOThreadPool.singleton`).
enum BlockingWork {
    /// Runs `body` on the blocking pool and returns its result; nil when the pool has shut down.
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T? {
        try? await NIOThreadPool.singleton.runIfActive(body)
    }
}
