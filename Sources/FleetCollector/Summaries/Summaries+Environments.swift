import FleetCore
import GRDB

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An environment: its hash, facts, when it was seen, and the agents on it.
public struct EnvironmentSummary: Sendable, Hashable, Encodable {
    public var envHash: String
    public var facts: [String: String]
    public var firstSeen: Timestamp
    public var lastSeen: Timestamp
    /// Agents whose current environment this is.
    public var agents: [String]
    @NullEncoded public var runs: RunSummary?

    enum CodingKeys: String, CodingKey {
        case envHash = "env_hash", facts, firstSeen = "first_seen", lastSeen = "last_seen", agents, runs
    }
}

/// For one workflow: which environment facts go with success and which with failure.
public struct EnvironmentDiff: Sendable, Hashable, Encodable {
    public struct ValueStats: Sendable, Hashable, Encodable {
        public var value: String
        public var runs: Int
        public var successes: Int
        @NullEncoded public var successRate: Double?
        public var environments: [String]
        enum CodingKeys: String, CodingKey { case value, runs, successes, successRate = "success_rate", environments }
    }

    public struct Fact: Sendable, Hashable, Encodable {
        public var fact: String
        /// Highest minus lowest success rate among this fact's values that have enough runs.
        @NullEncoded public var successRateSpread: Double?
        public var values: [ValueStats]
        enum CodingKeys: String, CodingKey { case fact, successRateSpread = "success_rate_spread", values }
    }

    public var workflowID: String
    public var window: SummaryWindow
    /// Facts whose values differ between the workflow's environments, largest spread first.
    public var facts: [Fact]

    enum CodingKeys: String, CodingKey { case workflowID = "workflow_id", window, facts }
}

extension Summaries {
    public func environments(window: SummaryWindow) async throws -> [EnvironmentSummary] {
        let runs = Dictionary(uniqueKeysWithValues: try await runs(by: .environment, window: window).map { ($0.key, $0) })
        return try await store.read { db in
            var agentsByEnv: [String: [String]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT env_hash, agent_id FROM agents WHERE env_hash IS NOT NULL ORDER BY agent_id") {
                agentsByEnv[row[0], default: []].append(row[1])
            }
            return try Row.fetchAll(db, sql: "SELECT env_hash, facts, first_seen, last_seen FROM environments ORDER BY env_hash")
                .map { row in
                    let hash: String = row[0]
                    return EnvironmentSummary(
                        envHash: hash, facts: Self.decodeFacts(row[1]),
                        firstSeen: Timestamp(microsecondsSinceEpoch: row[2]), lastSeen: Timestamp(microsecondsSinceEpoch: row[3]),
                        agents: agentsByEnv[hash] ?? [], runs: runs[hash])
                }
        }
    }

    static func decodeFacts(_ text: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
    }

    /// The facts that differ between environments where `workflow` succeeds and where it fails,
    /// ranked by how far apart their success rates are.
    public func environmentDiff(workflow: String, window: SummaryWindow) async throws -> EnvironmentDiff {
        let perEnv = try await runs(by: .environment, window: window, workflow: workflow)
        let hashes = perEnv.map(\.key)
        let facts: [String: [String: String]] = try await store.read { db in
            var out: [String: [String: String]] = [:]
            for hash in hashes {
                if let text = try String.fetchOne(db, sql: "SELECT facts FROM environments WHERE env_hash = ?", arguments: [hash]) {
                    out[hash] = Self.decodeFacts(text)
                }
            }
            return out
        }
        let keys = Set(facts.values.flatMap(\.keys))
        var result: [EnvironmentDiff.Fact] = []
        for key in keys {
            var byValue: [String: (runs: Int, successes: Int, envs: [String])] = [:]
            for env in perEnv {
                let value = facts[env.key]?[key] ?? "(not reported)"
                var v = byValue[value] ?? (0, 0, [])
                v.runs += env.runs
                v.successes += env.successes
                v.envs.append(env.key)
                byValue[value] = v
            }
            guard byValue.count > 1 else { continue }
            let values = byValue.map { value, v in
                EnvironmentDiff.ValueStats(
                    value: value, runs: v.runs, successes: v.successes, successRate: rate(v.successes, of: v.runs),
                    environments: v.envs.sorted())
            }.sorted { ($0.successRate ?? -1, $0.value) > ($1.successRate ?? -1, $1.value) }
            let known = values.compactMap(\.successRate)
            let spread = known.count >= 2 ? (known.max() ?? 0) - (known.min() ?? 0) : nil
            result.append(EnvironmentDiff.Fact(fact: key, successRateSpread: spread, values: values))
        }
        result.sort { ($0.successRateSpread ?? -1, $1.fact) > ($1.successRateSpread ?? -1, $0.fact) }
        return EnvironmentDiff(workflowID: workflow, window: window, facts: result)
    }
}
