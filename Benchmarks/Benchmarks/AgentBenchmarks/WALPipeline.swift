import FleetAgent
import Foundation
import Logging
import ServiceLifecycle

/// The agent's recording path, run in this process as `Agent.run()` wires
/// it: a `Recorder` (default capacity), a `WriteAheadLog` with the default
/// `[wal]` options in a directory of its own, and the `WALWriter` with the
/// default group commit (`wal.sync_interval = 100ms`), as a service of a
/// `ServiceGroup`.
final class WALPipeline: Sendable {
    /// The WAL's directory (deleted by `remove()`).
    let directory: String
    let wal: WriteAheadLog
    let recorder: Recorder
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    /// Opens a fresh WAL in a new directory under the agent benchmarks'
    /// folder (named after `name`) and starts the writer.
    init(name: String) throws {
        let directory = try AgentBenchmarkFiles.makeScratchDirectory(name)
        let defaults = AgentConfiguration().wal
        self.directory = directory
        wal = try WriteAheadLog(
            directory: directory + "/wal", options: .init(maxBytes: defaults.maxBytes, segmentBytes: defaults.segmentBytes))
        recorder = Recorder()
        var logger = Logger(label: "agent-benchmark")
        logger.logLevel = .error
        let writer = WALWriter(wal: wal, recorder: recorder, syncInterval: defaults.syncInterval, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [writer], logger: logger))
        self.group = group
        running = Task { try await group.run() }
    }

    /// Graceful shutdown, as on SIGTERM: the writer appends and syncs what
    /// is queued, then returns.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await running.value
    }

    /// Deletes the directory; call after `stop()`.
    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
