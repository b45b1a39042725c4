import BenchmarkSupport
import FleetPKI
import Foundation

/// A collector and agents as real processes from the release build, as an
/// operator runs them: a fresh PKI (`PKIDirectory`, what `fleetctl pki init`
/// and `pki issue-agent` write), a `fleet-collector run` on 127.0.0.1 with
/// its own SQLite store, and `fleet-agent run` processes, each with an
/// `agent.toml` holding only what must be set (everything else at the
/// defaults of agent/agent.toml), all in one directory deleted at the end.
final class ProcessFleet {
    let directory: String
    let pki: PKIDirectory
    let collector: FleetProcess
    let collectorPort: Int

    /// A running agent and its loopback API.
    struct Agent {
        let process: FleetProcess
        let loopback: LoopbackClient
        /// Its `data_dir`.
        let dataDirectory: String
    }

    /// Creates the PKI with a certificate for each of `agents` and starts
    /// the collector: both listeners on 127.0.0.1 (ports chosen by the
    /// system), no per-agent rate limit (as the process tests run it; the
    /// default 50,000 events/s would pace a backlog drain), and raw rows kept
    /// 10 years, since the workload is dated March 2026 and the retention
    /// pass would otherwise roll it up while it arrives.
    init(name: String, agents: [String]) async throws {
        directory = try AgentBenchmarkFiles.makeScratchDirectory(name)
        pki = PKIDirectory(path: directory + "/pki")
        do {
            try pki.initialize()
            for agent in agents { try pki.issueAgent(agent) }
            let config = directory + "/collector.toml"
            try """
                [server]
                listen = "127.0.0.1:0"
                ca_file = "\(pki.caCertificate)"
                cert_file = "\(pki.collectorCertificate)"
                key_file = "\(pki.collectorKey)"
                [admin]
                listen = "127.0.0.1:0"
                [ingest]
                agent_events_per_second = 0
                [store]
                path = "\(directory)/fleet.sqlite"
                raw_retention = "3650d"
                """.write(toFile: config, atomically: true, encoding: .utf8)
            collector = try FleetProcess("fleet-collector", arguments: ["run", "--config", config], logPath: directory + "/collector.log")
            collectorPort = try await collector.port(marker: "ingest listening")
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// Runs `body` with a new fleet (see `init`), then stops the collector
    /// and deletes the files, whether `body` returned or threw.
    static func with<T>(name: String, agents: [String], _ body: (ProcessFleet) async throws -> T) async throws -> T {
        let fleet = try await ProcessFleet(name: name, agents: agents)
        do {
            let result = try await body(fleet)
            await fleet.finish()
            return result
        } catch {
            await fleet.finish()
            throw error
        }
    }

    /// Writes `ID.toml` for agent `id` (data in `ID-data/`, loopback on a
    /// free port, `extra` appended: more keys or tables) and returns its path.
    func writeAgentConfig(_ id: String, extra: String = "") throws -> String {
        let path = directory + "/\(id).toml"
        try """
            agent_id = "\(id)"
            data_dir = "\(dataDirectory(id))"
            [collector]
            url = "https://localhost:\(collectorPort)"
            ca_file = "\(pki.caCertificate)"
            cert_file = "\(pki.agentCertificate(id))"
            key_file = "\(pki.agentKey(id))"
            [loopback]
            port = 0
            \(extra)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func dataDirectory(_ id: String) -> String { directory + "/\(id)-data" }

    /// Starts `fleet-agent run --config CONFIG` and waits for its loopback
    /// API; `launched` is called with the process as soon as it runs.
    func startAgent(_ id: String, config: String, launched: (FleetProcess) -> Void = { _ in }) async throws -> Agent {
        let process = try FleetProcess("fleet-agent", arguments: ["run", "--config", config], logPath: directory + "/\(id).log")
        launched(process)
        let port = try await process.port(marker: "loopback API listening", timeout: .seconds(600))
        return Agent(process: process, loopback: LoopbackClient(port: port), dataDirectory: dataDirectory(id))
    }

    /// Stops `agent` (SIGTERM) and checks it exited cleanly; returns how long that took.
    @discardableResult
    func stop(_ agent: Agent) async throws -> Duration {
        await agent.loopback.shutdown()
        guard let exit = await agent.process.terminate(), exit.status == 0 else {
            throw BenchmarkFailure(description: "fleet-agent did not exit cleanly on SIGTERM: \(agent.process.log.suffix(2_000))")
        }
        return exit.took
    }

    /// Stops the collector (SIGTERM; SIGKILL after 90 s) and deletes the
    /// directory (unless `FLEET_KEEP_FILES` is set, for looking at the logs).
    func finish() async {
        await collector.terminate()
        if ProcessInfo.processInfo.environment["FLEET_KEEP_FILES"] == nil {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
