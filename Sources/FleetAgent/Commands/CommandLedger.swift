import FleetCore
import Foundation
import Synchronization

/// The ids of commands this agent has started, persisted and synced before
/// a command runs: a command delivered again (the collector delivers at
/// least once) or after a crash is never run a second time. One line per
/// event in DATA_DIR/commands.log: `start ID` before running, `done ID`
/// once its result is durable in the WAL. A command started but not done
/// when the agent stopped is reported failed at the next start, not rerun.
final class CommandLedger: Sendable {
    struct State {
        var started: Set<String> = []
        var done: Set<String> = []
        var order: [String] = []
    }

    let path: String
    private let state = Mutex(State())
    private let file: Mutex<FileHandle?>
    /// Ids kept when the file is compacted at start.
    static let keep = 10_000

    init(path: String) throws {
        self.path = path
        var loaded = State()
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                guard parts.count == 2 else { continue }  // a torn last line
                let id = String(parts[1])
                if parts[0] == "start", loaded.started.insert(id).inserted { loaded.order.append(id) }
                if parts[0] == "done" { loaded.done.insert(id) }
            }
        }
        if loaded.order.count > 2 * Self.keep {
            let kept = Array(loaded.order.suffix(Self.keep))
            let keptSet = Set(kept)
            let text = kept.map { id in "start \(id)\n" + (loaded.done.contains(id) ? "done \(id)\n" : "") }.joined()
            let temporary = path + ".tmp"
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
            let fd = open(temporary, O_RDONLY)
            if fd >= 0 {
                fsync(fd)
                close(fd)
            }
            guard rename(temporary, path) == 0 else { throw WALError("cannot replace \(path): errno \(errno)") }
            loaded = State(started: keptSet, done: loaded.done.intersection(keptSet), order: kept)
        }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw WALError("cannot create \(path)")
            }
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        file = Mutex(handle)
        state.withLock { $0 = loaded }
    }

    /// Ids started but never finished (the agent stopped while they ran).
    var interrupted: [String] {
        state.withLock { s in s.order.filter { !s.done.contains($0) } }
    }

    /// Records `id` as started (synced). False if it was started before: do not run it.
    func start(_ id: String) throws -> Bool {
        let fresh = state.withLock { s -> Bool in
            guard s.started.insert(id).inserted else { return false }
            s.order.append(id)
            return true
        }
        guard fresh else { return false }
        try append("start \(id)\n")
        return true
    }

    func finish(_ id: String) throws {
        state.withLock { _ = $0.done.insert(id) }
        try append("done \(id)\n")
    }

    private func append(_ line: String) throws {
        try file.withLock { handle in
            guard let handle else { throw WALError("the command ledger is closed") }
            try handle.write(contentsOf: Data(line.utf8))
            try handle.synchronize()
        }
    }
}
