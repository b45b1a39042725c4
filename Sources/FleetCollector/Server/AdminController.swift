import FleetCore
import GRDB
import Hummingbird

/// The JSON admin API for `fleetctl` and dashboards (docs/API.md). Every
/// route sits behind ``AdminAuthMiddleware``. Read routes take
/// `?window=1h|24h|7d` (default 1h) or `?from=…&to=…` (RFC 3339).
struct AdminController {
    let store: FleetStore
    let pipeline: IngestPipeline
    let summaries: Summaries

    struct Health: Encodable {
        var status: String
        var ingestQueueDepth: Int
        enum CodingKeys: String, CodingKey { case status, ingestQueueDepth = "ingest_queue_depth" }
    }

    struct AgentList: Encodable { var agents: [AgentSummary] }

    struct AgentDetail: Encodable {
        var agent: AgentSummary
        var window: SummaryWindow
        var runs: [RunSummary]
        var steps: [StepSummary]
        var delivery: [Delivery]
    }

    struct Delivery: Encodable {
        var epoch: String
        var ranges: [[UInt64]]
        var highestSeq: UInt64
        enum CodingKeys: String, CodingKey { case epoch, ranges, highestSeq = "highest_seq" }
    }

    struct WorkflowList: Encodable {
        var window: SummaryWindow
        var workflows: [RunSummary]
    }

    struct WorkflowDetail: Encodable {
        var window: SummaryWindow
        var workflowID: String
        var runs: RunSummary?
        var steps: [StepSummary]
        var recoveries: [RecoverySummary]
        var byAgent: [RunSummary]
        var byEnvironment: [RunSummary]
        enum CodingKeys: String, CodingKey {
            case window, workflowID = "workflow_id", runs, steps, recoveries, byAgent = "by_agent"
            case byEnvironment = "by_environment"
        }
    }

    struct EnvironmentList: Encodable {
        var window: SummaryWindow
        var environments: [EnvironmentSummary]
    }

    struct ExecutionList: Encodable {
        var state: String
        var executions: [RunningExecution]
    }

    struct ExecutionDetail: Encodable {
        struct Step: Encodable {
            var stepNumber: Int
            var nodeID: String
            var actionType: String
            var success: Bool
            var finishedAt: Timestamp
            var totalMs: Double
            @NullEncoded var error: String?
            enum CodingKeys: String, CodingKey {
                case stepNumber = "step_number", nodeID = "node_id", actionType = "action_type", success
                case finishedAt = "finished_at", totalMs = "total_ms", error
            }
        }
        var agentID: String
        var executionID: String
        var workflowID: String
        @NullEncoded var envHash: String?
        @NullEncoded var status: String?
        @NullEncoded var startedAt: Timestamp?
        @NullEncoded var finishedAt: Timestamp?
        @NullEncoded var durationMs: Double?
        @NullEncoded var errorMessage: String?
        @NullEncoded var running: RunningExecution?
        var steps: [Step]
        enum CodingKeys: String, CodingKey {
            case agentID = "agent_id", executionID = "execution_id", workflowID = "workflow_id", envHash = "env_hash"
            case status, startedAt = "started_at", finishedAt = "finished_at", durationMs = "duration_ms"
            case errorMessage = "error_message", running, steps
        }
    }

    /// `GET /v1/report/slice`: one interval of `fleetctl report`.
    struct ReportSlice: Encodable {
        var window: SummaryWindow
        var runs: RunSummary?
        var stages: StepSummary?
    }

    func window(_ request: Request) throws -> SummaryWindow {
        let q = request.uri.queryParameters
        switch SummaryWindow.parse(
            window: q["window"].map(String.init), from: q["from"].map(String.init), to: q["to"].map(String.init),
            now: summaries.now)
        {
        case .success(let window): return window
        case .failure(let error): throw HTTPError(.badRequest, message: error.description)
        }
    }

    func addRoutes(to router: Router<CollectorRequestContext>) {
        router.get("/v1/health") { _, _ in
            try JSONResponse.make(Health(status: "ok", ingestQueueDepth: pipeline.queueDepth))
        }
        router.get("/v1/report/slice") { request, _ in
            let window = try window(request)
            return try JSONResponse.make(
                ReportSlice(
                    window: window, runs: try await summaries.runs(by: .fleet, window: window).first,
                    stages: try await summaries.steps(window: window, combineActions: true).first))
        }
        router.get("/v1/fleet/summary") { _, _ in
            try JSONResponse.make(try await summaries.fleet())
        }
        router.get("/v1/agents") { _, _ in
            try JSONResponse.make(AgentList(agents: try await summaries.agents()))
        }
        router.get("/v1/agents/{id}") { request, context in
            let id = try context.parameters.require("id")
            guard let agent = try await summaries.agents(id: id).first else {
                throw HTTPError(.notFound, message: "no agent \"\(id)\"")
            }
            let window = try window(request)
            let delivery = try await store.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT epoch, lo, hi FROM delivery_ranges WHERE agent_id = ? ORDER BY epoch, lo", arguments: [id]
                ).map { row -> (Int64, Int64, Int64) in (row[0], row[1], row[2]) }
            }
            var byEpoch: [(WALEpoch, [[UInt64]])] = []
            for (epochBits, lo, hi) in delivery {
                let epoch = WALEpoch(rawValue: UInt64(bitPattern: epochBits))
                let range = [UInt64(bitPattern: lo), UInt64(bitPattern: hi)]
                if byEpoch.last?.0 == epoch { byEpoch[byEpoch.count - 1].1.append(range) } else { byEpoch.append((epoch, [range])) }
            }
            let allRuns = try await summaries.runs(by: .agent, window: window)
            return try JSONResponse.make(
                AgentDetail(
                    agent: agent, window: window, runs: allRuns.filter { $0.key == id },
                    steps: try await summaries.steps(window: window, agent: id),
                    delivery: byEpoch.map { Delivery(epoch: $0.0.description, ranges: $0.1, highestSeq: $0.1.last?[1] ?? 0) }))
        }
        router.get("/v1/workflows") { request, _ in
            let window = try window(request)
            return try JSONResponse.make(WorkflowList(window: window, workflows: try await summaries.runs(by: .workflow, window: window)))
        }
        router.get("/v1/workflows/{id}") { request, context in
            let id = try context.parameters.require("id")
            let window = try window(request)
            let runs = try await summaries.runs(by: .workflow, window: window, workflow: id).first
            let steps = try await summaries.steps(window: window, workflow: id)
            if runs == nil && steps.isEmpty {
                let known = try await store.read { db in
                    try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM executions WHERE workflow_id = ?)", arguments: [id]) ?? false
                }
                if !known { throw HTTPError(.notFound, message: "no workflow \"\(id)\"") }
            }
            return try JSONResponse.make(
                WorkflowDetail(
                    window: window, workflowID: id, runs: runs, steps: steps,
                    recoveries: try await summaries.recoveries(window: window, workflow: id),
                    byAgent: try await summaries.runs(by: .agent, window: window, workflow: id),
                    byEnvironment: try await summaries.runs(by: .environment, window: window, workflow: id)))
        }
        router.get("/v1/environments") { request, _ in
            let window = try window(request)
            return try JSONResponse.make(EnvironmentList(window: window, environments: try await summaries.environments(window: window)))
        }
        router.get("/v1/environments/diff") { request, _ in
            guard let workflow = request.uri.queryParameters["workflow"].map(String.init), !workflow.isEmpty else {
                throw HTTPError(.badRequest, message: "workflow: required, e.g. /v1/environments/diff?workflow=invoice-entry")
            }
            return try JSONResponse.make(try await summaries.environmentDiff(workflow: workflow, window: try window(request)))
        }
        router.get("/v1/executions") { request, _ in
            let state = request.uri.queryParameters["state"].map(String.init) ?? "running"
            guard state == "running" || state == "stuck" else {
                throw HTTPError(.badRequest, message: "state: expected running or stuck")
            }
            return try JSONResponse.make(
                ExecutionList(state: state, executions: try await summaries.running(onlyStuck: state == "stuck")))
        }
        router.get("/v1/executions/{id}") { _, context in
            let id = try context.parameters.require("id")
            guard let detail = try await executionDetail(id) else {
                throw HTTPError(.notFound, message: "no execution \"\(id)\"")
            }
            return try JSONResponse.make(detail)
        }
    }

    func executionDetail(_ id: String) async throws -> ExecutionDetail? {
        let running = try await summaries.running(executionID: id).first
        return try await store.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT agent_id, execution_id, workflow_id, env_hash, status, started_at, finished_at, duration_ms, error_message
                        FROM executions WHERE execution_id = ? ORDER BY coalesce(started_at, finished_at) DESC LIMIT 1
                        """, arguments: [id])
            else { return nil }
            let agent: String = row[0]
            let steps = try Row.fetchAll(
                db,
                sql: """
                    SELECT step_number, node_id, action_type, success, finished_at, total_ms, error FROM steps
                    WHERE agent_id = ? AND execution_id = ? ORDER BY finished_at, step_number
                    """, arguments: [agent, id]
            ).map { s in
                ExecutionDetail.Step(
                    stepNumber: s[0], nodeID: s[1], actionType: s[2], success: s[3],
                    finishedAt: Timestamp(microsecondsSinceEpoch: s[4]), totalMs: s[5], error: s[6])
            }
            return ExecutionDetail(
                agentID: agent, executionID: row[1], workflowID: row[2], envHash: row[3], status: row[4],
                startedAt: (row[5] as Int64?).map(Timestamp.init(microsecondsSinceEpoch:)),
                finishedAt: (row[6] as Int64?).map(Timestamp.init(microsecondsSinceEpoch:)),
                durationMs: row[7], errorMessage: row[8], running: running, steps: steps)
        }
    }
}
