import NIOCore
import NIOPosix
import Testing

@testable import FleetAgent

@Suite("The agent's event loop: task executor, sleeps, blocking work")
struct EventLoopTaskExecutorTests {
    /// A one-thread group and an executor on its loop for `body`; the group is shut down after.
    func withLoop<T: Sendable>(_ body: (any EventLoop, EventLoopTaskExecutor) async throws -> T) async throws -> T {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        do {
            let result = try await body(loop, EventLoopTaskExecutor(loop: loop))
            try await group.shutdownGracefully()
            return result
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    @Test("tasks with the preference run on the loop, before and after sleeps, in child tasks too")
    func runsOnTheLoop() async throws {
        let onLoop = try await withLoop { loop, executor in await withTaskExecutorPreference(executor) { () async -> [Bool] in
            var seen = [loop.inEventLoop]
            try? await EventLoopTaskExecutor.sleep(for: .milliseconds(5))
            seen.append(loop.inEventLoop)
            await withTaskGroup(of: Bool.self) { children in
                for _ in 0..<4 {
                    children.addTask {
                        try? await EventLoopTaskExecutor.sleep(for: .milliseconds(1))
                        return loop.inEventLoop
                    }
                }
                for await child in children { seen.append(child) }
            }
            return seen
        } }
        #expect(onLoop == [true, true, true, true, true, true])
    }

    @Test("sleep waits at least its duration, on the loop and off it")
    func sleepDuration() async throws {
        let clock = ContinuousClock()
        let onLoop = try await withLoop { _, executor in
            try await withTaskExecutorPreference(executor) {
                try await clock.measure { try await EventLoopTaskExecutor.sleep(for: .milliseconds(50)) }
            }
        }
        #expect(onLoop >= .milliseconds(50))
        let offLoop = try await clock.measure { try await EventLoopTaskExecutor.sleep(for: .milliseconds(50)) }
        #expect(offLoop >= .milliseconds(50))
    }

    @Test("a cancelled sleep throws CancellationError at once, like Task.sleep")
    func cancelledSleep() async throws {
        try await withLoop { _, executor in try await cancelledSleep(on: executor) }
    }

    func cancelledSleep(on executor: EventLoopTaskExecutor) async throws {
        let clock = ContinuousClock()
        let started = clock.now
        let sleeper = Task(executorPreference: executor) { () async -> (any Error)? in
            do {
                try await EventLoopTaskExecutor.sleep(for: .seconds(60))
                return nil
            } catch {
                return error
            }
        }
        try await Task.sleep(for: .milliseconds(20))
        sleeper.cancel()
        let error = await sleeper.value
        #expect(error is CancellationError)
        #expect(clock.now - started < .seconds(10))
        // Already cancelled: throws without waiting.
        let early = Task(executorPreference: executor) { () async -> (any Error)? in
            withUnsafeCurrentTask { $0?.cancel() }
            do {
                try await EventLoopTaskExecutor.sleep(for: .seconds(60))
                return nil
            } catch {
                return error
            }
        }
        #expect(await early.value is CancellationError)
    }

    @Test("blocking work runs off the loop and returns its result")
    func blockingWorkOffTheLoop() async throws {
        let (result, ranOnLoop, backOnLoop) = try await withLoop { loop, executor in
            await withTaskExecutorPreference(executor) { () async -> (Int?, Bool?, Bool) in
                let ranOnLoop = await BlockingWork.run { loop.inEventLoop }
                let result = await BlockingWork.run { 6 * 7 }
                return (result, ranOnLoop, loop.inEventLoop)
            }
        }
        #expect(result == 42)
        #expect(ranOnLoop == false)
        #expect(backOnLoop)
    }
}
