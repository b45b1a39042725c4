import FleetCore
import GRDB
import GRDBSQLite

/// The hot path of the merge: inserts `steps` rows through one prepared
/// statement per transaction, binding values with the SQLite C API
/// directly (no per-row argument arrays or statement-cache lookups).
struct StepInserter {
    let statement: Statement

    init(_ db: Database) throws {
        statement = try db.makeStatement(
            sql: """
                INSERT INTO steps (agent_id, execution_id, workflow_id, env_hash, node_id, step_number, action_type,
                                   started_at, finished_at, success, error, ocr_ms, ui_ms, analyze_ms, total_ms,
                                   cache_hit, degraded)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
    }

    func insert(_ e: StepFinished, agent: String, environment: String?) throws {
        let s = statement.sqliteStatement
        sqlite3_reset(s)
        sqlite3_clear_bindings(s)
        bind(s, 1, agent)
        bind(s, 2, e.executionID)
        bind(s, 3, e.workflowID)
        bind(s, 4, environment)
        bind(s, 5, e.nodeID)
        sqlite3_bind_int64(s, 6, Int64(e.stepNumber))
        bind(s, 7, e.actionType)
        sqlite3_bind_int64(s, 8, e.startedAt.microsecondsSinceEpoch)
        sqlite3_bind_int64(s, 9, e.finishedAt.microsecondsSinceEpoch)
        sqlite3_bind_int(s, 10, e.success ? 1 : 0)
        bind(s, 11, e.error)
        bind(s, 12, e.ocrMs)
        bind(s, 13, e.uiMs)
        bind(s, 14, e.analyzeMs)
        sqlite3_bind_double(s, 15, e.totalMs)
        sqlite3_bind_int(s, 16, e.cacheHit ? 1 : 0)
        sqlite3_bind_int(s, 17, e.degraded ? 1 : 0)
        let code = sqlite3_step(s)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(sqlite3_db_handle(s))))
        }
    }

    private func bind(_ s: OpaquePointer, _ index: Int32, _ value: String?) {
        guard var value else {
            sqlite3_bind_null(s, index)
            return
        }
        value.withUTF8 { utf8 in
            _ = sqlite3_bind_text(s, index, utf8.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, Int32(utf8.count), sqliteTransient)
        }
    }

    private func bind(_ s: OpaquePointer, _ index: Int32, _ value: Double?) {
        if let value { sqlite3_bind_double(s, index, value) } else { sqlite3_bind_null(s, index) }
    }
}

/// SQLite copies the bound bytes (SQLITE_TRANSIENT).
private let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
