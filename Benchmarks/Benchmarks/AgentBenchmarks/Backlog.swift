import BenchmarkSupport
import FleetAgent
import FleetCore
import Foundation

/// An agent's unsent backlog, written into its data directory with the
/// agent's own `WriteAheadLog` (default segment size), as a disconnected
/// agent accumulates one, before the agent process is started on it.
enum Backlog {
    /// `FLEET_AGENT_BACKLOG_MIB`, default 1024 (the 1 GB): WAL bytes to write.
    static var mebibytes: Int {
        max(1, ProcessInfo.processInfo.environment["FLEET_AGENT_BACKLOG_MIB"].flatMap(Int.init) ?? 1024)
    }

    /// What was written.
    struct Written {
        var events: UInt64
        var bytes: UInt64
        /// The `wal.max_bytes` the agent needs so that none of it is dropped:
        /// the default 1 GiB, or the backlog plus 64 MiB when that is more.
        var walMaxMebibytes: Int
    }

    /// Appends `step_finished` events to the WAL in `directory` until its
    /// segments hold at least `mebibytes` MiB, and syncs.
    static func write(into directory: String, mebibytes: Int) throws -> Written {
        let target = UInt64(mebibytes) << 20
        let defaults = AgentConfiguration().wal
        let maxMebibytes = max(defaults.maxBytes >> 20, mebibytes + 64)
        let wal = try WriteAheadLog(
            directory: directory, options: .init(maxBytes: maxMebibytes << 20, segmentBytes: defaults.segmentBytes))
        var pc = StepFinishedWorkload(seed: 0xBAC_C106)
        while wal.stats.backlogBytes < target {
            try wal.append((0..<10_000).map { _ in pc.nextEvent() })
        }
        try wal.sync()
        let stats = wal.stats
        guard stats.droppedEvents == 0 else {
            throw BenchmarkFailure(description: "the WAL dropped \(stats.droppedEvents) events while the backlog was written")
        }
        return Written(events: stats.backlogEvents, bytes: stats.backlogBytes, walMaxMebibytes: maxMebibytes)
    }
}
