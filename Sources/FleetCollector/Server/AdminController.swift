import FleetCore
import GRDB
import Hummingbird

/// The JSON admin API for `fleetctl` and dashboards (docs/API.md). Every
/// route sits behind ``AdminAuthMiddleware``.
struct AdminController {
    let store: FleetStore
    let pipeline: IngestPipeline

    struct AgentRow: Encodable {
        var agentID: String
        var firstSeen: String
        var lastSeen: String
        var envHash: String?
        enum CodingKeys: String, CodingKey {
            case agentID = "agent_id", firstSeen = "first_seen", lastSeen = "last_seen", envHash = "env_hash"
        }
    }

    struct AgentList: Encodable {
        var agents: [AgentRow]
    }

    struct Health: Encodable {
        var status: String
        var ingestQueueDepth: Int
        enum CodingKeys: String, CodingKey { case status, ingestQueueDepth = "ingest_queue_depth" }
    }

    func addRoutes(to router: Router<CollectorRequestContext>) {
        router.get("/v1/health") { _, _ in
            try JSONResponse.make(Health(status: "ok", ingestQueueDepth: pipeline.queueDepth))
        }
        router.get("/v1/agents") { _, _ in
            let rows = try await store.read { db in
                try Row.fetchAll(db, sql: "SELECT agent_id, first_seen, last_seen, env_hash FROM agents ORDER BY agent_id")
                    .map { row in
                        AgentRow(
                            agentID: row["agent_id"],
                            firstSeen: Timestamp(microsecondsSinceEpoch: row["first_seen"]).rfc3339,
                            lastSeen: Timestamp(microsecondsSinceEpoch: row["last_seen"]).rfc3339,
                            envHash: row["env_hash"])
                    }
            }
            return try JSONResponse.make(AgentList(agents: rows))
        }
    }
}
