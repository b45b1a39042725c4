import BenchmarkSupport
import FleetCore
import Foundation

/// The ceiling the ingest is compared with: the same `step_finished` rows
/// bulk-inserted by the `sqlite3` CLI into a fresh file with the collector's
/// `steps` table and indexes, in one transaction, WAL journal and
/// `synchronous = FULL` as the collector's default.
///
/// The rows go in with `.import --csv`, the CLI's fastest path: one prepared
/// INSERT bound per CSV line. (In a trial on the benchmark machine,
/// multi-row `INSERT … VALUES` statements took 1.5–2 times as long, one
/// INSERT per row 2–3 times.) CSV has no NULL, so absent values
/// (`env_hash`, `error`, `analyze_ms`) are stored as empty strings; SQLite
/// stores both in zero payload bytes.
enum RawSQLiteInsert {
    /// `CREATE TABLE steps` and its indexes, copied from
    /// Sources/FleetCollector/Store/StoreSchema.swift (v1 and v7).
    static let stepsSchema = """
        CREATE TABLE steps (
            agent_id TEXT NOT NULL,
            execution_id TEXT NOT NULL,
            workflow_id TEXT NOT NULL,
            env_hash TEXT,
            node_id TEXT NOT NULL,
            step_number INTEGER NOT NULL,
            action_type TEXT NOT NULL,
            started_at INTEGER NOT NULL,
            finished_at INTEGER NOT NULL,
            success INTEGER NOT NULL,
            error TEXT,
            ocr_ms REAL,
            ui_ms REAL,
            analyze_ms REAL,
            total_ms REAL NOT NULL,
            cache_hit INTEGER NOT NULL,
            degraded INTEGER NOT NULL
        );
        CREATE INDEX steps_by_time ON steps (finished_at);
        CREATE INDEX steps_by_agent ON steps (agent_id, finished_at);
        """

    /// One CSV line per `step_finished` event of `batches`, in the column
    /// order of `steps` and with the values the collector's merge stores
    /// (times in microseconds, durations in milliseconds, booleans 0/1).
    static func csv(_ batches: [Batch]) throws -> String {
        var text = ""
        for batch in batches {
            for record in batch.records {
                guard case .stepFinished(let step) = record.event.payload else {
                    throw BenchmarkFailure(description: "the workload has an event that is not step_finished")
                }
                var fields: [String] = [batch.agentID, step.executionID, step.workflowID, "", step.nodeID]
                fields.append(String(step.stepNumber))
                fields.append(step.actionType)
                fields.append(String(step.startedAt.microsecondsSinceEpoch))
                fields.append(String(step.finishedAt.microsecondsSinceEpoch))
                fields.append(step.success ? "1" : "0")
                fields.append(step.error ?? "")
                fields.append(milliseconds(step.ocrMs))
                fields.append(milliseconds(step.uiMs))
                fields.append(milliseconds(step.analyzeMs))
                fields.append(milliseconds(step.totalMs))
                fields.append(step.cacheHit ? "1" : "0")
                fields.append(step.degraded ? "1" : "0")
                text += fields.map(quoted).joined(separator: ",")
                text += "\n"
            }
        }
        return text
    }

    /// A duration as the shortest decimal that reads back as the same
    /// double, or empty when absent.
    private static func milliseconds(_ value: Double?) -> String {
        value.map { String($0) } ?? ""
    }

    /// `field` quoted for CSV (RFC 4180) when it needs to be.
    private static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Creates `database` with the `steps` table (not timed), then times one
    /// `sqlite3` process importing `csvFile` in one transaction; checks that
    /// every one of the `rows` lines arrived.
    static func insert(csvFile: String, rows: Int, database: String) async throws -> Duration {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
        try await SQLiteCLI.execute(database: database, sql: "PRAGMA journal_mode = WAL;\n" + stepsSchema + "\n")
        let script = database + ".import.sql"
        let sql = """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            BEGIN;
            .import --csv \(csvFile) steps
            COMMIT;

            """
        try Data(sql.utf8).write(to: URL(fileURLWithPath: script))
        defer { try? FileManager.default.removeItem(atPath: script) }
        let elapsed = try await SQLiteCLI.run(database: database, script: script).elapsed
        let count = try await SQLiteCLI.execute(database: database, sql: "SELECT count(*) FROM steps;\n")
        guard Int(count.trimmingCharacters(in: .whitespacesAndNewlines)) == rows else {
            throw BenchmarkFailure(description: "sqlite3 imported \(count) rows of \(rows) from \(csvFile)")
        }
        return elapsed
    }
}
