import GRDB

/// The collector's SQLite schema, as GRDB migrations. Times are integer
/// microseconds since the Unix epoch; durations are milliseconds (REAL);
/// epochs are the WAL epoch's 64 bits as a signed integer.
enum StoreSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: events, delivery state, environments") { db in
            try db.execute(
                sql: """
                    CREATE TABLE agents (
                        agent_id TEXT PRIMARY KEY NOT NULL,
                        first_seen INTEGER NOT NULL,
                        last_seen INTEGER NOT NULL,
                        -- The environment the agent reported last, and the time of that report.
                        env_hash TEXT,
                        env_since INTEGER
                    );

                    -- Sequence ranges committed per agent and WAL epoch: the idempotence record.
                    -- A batch covers [first_seq, last_seq]; sequences inside a committed range are duplicates.
                    CREATE TABLE delivery_ranges (
                        agent_id TEXT NOT NULL,
                        epoch INTEGER NOT NULL,
                        lo INTEGER NOT NULL,
                        hi INTEGER NOT NULL,
                        PRIMARY KEY (agent_id, epoch, lo)
                    ) WITHOUT ROWID;

                    -- The latest agent_status each agent reported (backlog, dropped and lost totals).
                    CREATE TABLE agent_status (
                        agent_id TEXT PRIMARY KEY NOT NULL,
                        epoch INTEGER NOT NULL,
                        reported_at INTEGER NOT NULL,
                        wal_backlog_events INTEGER NOT NULL,
                        wal_backlog_bytes INTEGER NOT NULL,
                        dropped_events INTEGER NOT NULL,
                        lost_events INTEGER NOT NULL,
                        last_error TEXT
                    );

                    CREATE TABLE environments (
                        env_hash TEXT PRIMARY KEY NOT NULL,
                        facts TEXT NOT NULL,
                        first_seen INTEGER NOT NULL,
                        last_seen INTEGER NOT NULL
                    );

                    CREATE TABLE agent_environments (
                        agent_id TEXT NOT NULL,
                        env_hash TEXT NOT NULL,
                        first_seen INTEGER NOT NULL,
                        last_seen INTEGER NOT NULL,
                        PRIMARY KEY (agent_id, env_hash)
                    ) WITHOUT ROWID;

                    CREATE TABLE executions (
                        agent_id TEXT NOT NULL,
                        execution_id TEXT NOT NULL,
                        workflow_id TEXT NOT NULL,
                        env_hash TEXT,
                        started_at INTEGER,
                        finished_at INTEGER,
                        status TEXT,
                        total_steps INTEGER,
                        steps_completed INTEGER,
                        steps_failed INTEGER,
                        duration_ms REAL,
                        error_message TEXT,
                        last_step_at INTEGER,
                        steps_seen INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY (agent_id, execution_id)
                    );
                    CREATE INDEX executions_by_workflow ON executions (workflow_id, started_at);
                    CREATE INDEX executions_by_start ON executions (started_at);
                    CREATE INDEX executions_open ON executions (last_step_at) WHERE status IS NULL;

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

                    CREATE TABLE recoveries (
                        agent_id TEXT NOT NULL,
                        ts INTEGER NOT NULL,
                        execution_id TEXT NOT NULL,
                        workflow_id TEXT NOT NULL,
                        node_id TEXT,
                        strategy TEXT NOT NULL,
                        success INTEGER NOT NULL,
                        duration_ms REAL NOT NULL,
                        command_id TEXT
                    );
                    CREATE INDEX recoveries_by_time ON recoveries (ts);

                    CREATE TABLE resolutions (
                        agent_id TEXT NOT NULL,
                        ts INTEGER NOT NULL,
                        target_hash TEXT NOT NULL,
                        strategy TEXT NOT NULL,
                        success INTEGER NOT NULL,
                        duration_ms REAL NOT NULL,
                        confidence REAL,
                        screen_state_hash TEXT,
                        candidates INTEGER,
                        error_type TEXT,
                        execution_id TEXT,
                        workflow_id TEXT
                    );
                    CREATE INDEX resolutions_by_time ON resolutions (ts);

                    CREATE TABLE errors (
                        agent_id TEXT NOT NULL,
                        ts INTEGER NOT NULL,
                        error_type TEXT NOT NULL,
                        message TEXT NOT NULL,
                        component TEXT NOT NULL,
                        severity TEXT NOT NULL,
                        context TEXT NOT NULL,
                        execution_id TEXT,
                        workflow_id TEXT
                    );
                    CREATE INDEX errors_by_time ON errors (ts);

                    CREATE TABLE resource_samples (
                        agent_id TEXT NOT NULL,
                        ts INTEGER NOT NULL,
                        cpu_percent REAL NOT NULL,
                        memory_used_bytes INTEGER NOT NULL,
                        memory_total_bytes INTEGER NOT NULL,
                        disk_free_bytes INTEGER NOT NULL,
                        gpus TEXT NOT NULL,
                        executor_alive INTEGER,
                        cache_bytes INTEGER
                    );
                    CREATE INDEX resource_samples_by_agent ON resource_samples (agent_id, ts);

                    CREATE TABLE metric_points (
                        agent_id TEXT NOT NULL,
                        ts INTEGER NOT NULL,
                        name TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        value REAL NOT NULL,
                        labels TEXT NOT NULL
                    );
                    CREATE INDEX metric_points_by_name ON metric_points (name, ts);

                    CREATE TABLE command_results (
                        agent_id TEXT NOT NULL,
                        ts INTEGER NOT NULL,
                        command_id TEXT NOT NULL,
                        action TEXT NOT NULL,
                        status TEXT NOT NULL,
                        exit_code INTEGER,
                        output_tail TEXT,
                        duration_ms REAL NOT NULL,
                        reason TEXT
                    );
                    CREATE INDEX command_results_by_command ON command_results (command_id);
                    """)
        }
        migrator.registerMigration("v2: hourly rollups") { db in
            try db.execute(
                sql: """
                    -- Raw rows older than store.raw_retention end up here, one row per hour and group.
                    -- Histograms: HDR (3 significant digits) of durations in microseconds, encoded like HistogramBlob.
                    CREATE TABLE execution_rollups (
                        hour INTEGER NOT NULL,
                        workflow_id TEXT NOT NULL,
                        agent_id TEXT NOT NULL,
                        env_hash TEXT NOT NULL,
                        runs INTEGER NOT NULL,
                        successes INTEGER NOT NULL,
                        duration_sum_ms REAL NOT NULL,
                        duration_histogram BLOB NOT NULL,
                        PRIMARY KEY (hour, workflow_id, agent_id, env_hash)
                    ) WITHOUT ROWID;

                    CREATE TABLE step_rollups (
                        hour INTEGER NOT NULL,
                        workflow_id TEXT NOT NULL,
                        agent_id TEXT NOT NULL,
                        env_hash TEXT NOT NULL,
                        action_type TEXT NOT NULL,
                        steps INTEGER NOT NULL,
                        successes INTEGER NOT NULL,
                        cache_hits INTEGER NOT NULL,
                        degraded INTEGER NOT NULL,
                        total_sum_ms REAL NOT NULL,
                        total_histogram BLOB NOT NULL,
                        ocr_histogram BLOB NOT NULL,
                        ui_histogram BLOB NOT NULL,
                        analyze_histogram BLOB NOT NULL,
                        PRIMARY KEY (hour, workflow_id, agent_id, env_hash, action_type)
                    ) WITHOUT ROWID;
                    CREATE INDEX executions_by_finish ON executions (finished_at) WHERE status IS NOT NULL;
                    """)
        }
        migrator.registerMigration("v3: summary buckets") { db in
            try SummaryBuckets.createTables(db)
            try SummaryBuckets.backfillFromRaw(db)
            try SummaryBuckets.backfillFromRollups(db)
            try db.execute(sql: "DROP TABLE execution_rollups; DROP TABLE step_rollups;")
        }
        migrator.registerMigration("v4: commands and rules") { db in
            try db.execute(
                sql: """
                    -- Every command, from a rule or an operator: the audit trail and the delivery queue.
                    CREATE TABLE commands (
                        command_id TEXT PRIMARY KEY NOT NULL,
                        agent_id TEXT NOT NULL,
                        action TEXT NOT NULL,
                        args TEXT NOT NULL,
                        -- 'rule' or 'operator'; rule and target name the rule's target; caused_by says who or why.
                        cause TEXT NOT NULL,
                        rule TEXT,
                        target TEXT,
                        caused_by TEXT NOT NULL,
                        is_revert INTEGER NOT NULL DEFAULT 0,
                        created_at INTEGER NOT NULL,
                        deadline INTEGER NOT NULL,
                        -- pending, delivered, running, succeeded, failed, refused, timed_out, expired
                        state TEXT NOT NULL,
                        state_at INTEGER NOT NULL,
                        delivered_at INTEGER,
                        deliveries INTEGER NOT NULL DEFAULT 0,
                        finished_at INTEGER,
                        exit_code INTEGER,
                        output_tail TEXT,
                        reason TEXT,
                        duration_ms REAL,
                        -- The rule's value when it fired and once the effect was measured; effective or ineffective.
                        value_before REAL,
                        value_after REAL,
                        effect TEXT
                    );
                    CREATE INDEX commands_open ON commands (agent_id, state) WHERE state IN ('pending', 'delivered', 'running');
                    CREATE INDEX commands_by_created ON commands (created_at);
                    CREATE INDEX commands_by_rule ON commands (rule, target, created_at);

                    -- What each rule knows about each target.
                    CREATE TABLE rule_targets (
                        rule TEXT NOT NULL,
                        target TEXT NOT NULL,
                        agent_id TEXT,
                        -- A remediation was applied and the condition has not cleared yet (a revert is due when it does).
                        active INTEGER NOT NULL DEFAULT 0,
                        last_fired_at INTEGER,
                        failures INTEGER NOT NULL DEFAULT 0,
                        backoff_until INTEGER,
                        ineffective INTEGER NOT NULL DEFAULT 0,
                        -- The rule stopped acting here (too many ineffective remediations) until an operator resets it.
                        escalated INTEGER NOT NULL DEFAULT 0,
                        alert TEXT,
                        alert_since INTEGER,
                        last_value REAL,
                        PRIMARY KEY (rule, target)
                    ) WITHOUT ROWID;

                    -- Audit of every rule decision: fired, dry_run, suppressed (cap), cleared, reverted, escalated.
                    CREATE TABLE rule_events (
                        id INTEGER PRIMARY KEY,
                        at INTEGER NOT NULL,
                        rule TEXT NOT NULL,
                        target TEXT NOT NULL,
                        agent_id TEXT,
                        kind TEXT NOT NULL,
                        value REAL,
                        detail TEXT NOT NULL,
                        command_id TEXT
                    );
                    CREATE INDEX rule_events_by_rule ON rule_events (rule, at);
                    """)
        }
        migrator.registerMigration("v5: day buckets") { db in
            try SummaryBuckets.createDayTable(db)
        }
        migrator.registerMigration("v6: summary bucket deltas") { db in
            try SummaryBuckets.createDeltaTables(db)
        }
        migrator.registerMigration("v7: steps by agent") { db in
            // One agent's steps in a window's edges (its buckets are hourly, SummaryBuckets.agentSpans)
            // and on its detail page. On an existing store this builds the index once, at start.
            try db.execute(sql: "CREATE INDEX steps_by_agent ON steps (agent_id, finished_at)")
        }
        return migrator
    }
}
