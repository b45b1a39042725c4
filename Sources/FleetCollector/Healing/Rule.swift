import FleetCore

/// One self-healing rule from `[[rules]]` in collector.toml: when a metric's
/// statistic over a window crosses a threshold for a target (with enough
/// samples), an action is taken there, at most once per cooldown; when the
/// value is back past `clear_threshold`, the optional revert action runs.
public struct Rule: Sendable, Hashable {
    public enum Scope: String, Sendable, CaseIterable {
        /// One target per agent (and per workflow, for `success_rate`). Commands go to that agent.
        case agent
        /// Targets are workflows, environments, or the whole fleet: only `action = "alert"`.
        case workflow, environment, fleet
    }

    /// What is measured. Each reads its own table over the rule's window.
    public enum Metric: String, Sendable, CaseIterable {
        /// Step durations (`steps`), in ms.
        case stepTotalMs = "step_total_ms", stepOCRMs = "step_ocr_ms", stepUIMs = "step_ui_ms", stepAnalyzeMs = "step_analyze_ms"
        /// Finished executions' success rate (0…1); per agent and workflow at agent scope.
        case successRate = "success_rate"
        /// `error` events (`filter` narrows by component, severity or type).
        case errorCount = "error_count"
        /// Resource samples: 1 when the executor was alive, 0 when not.
        case executorAlive = "executor_alive"
        /// Resource samples: the executor cache folder's size in bytes.
        case cacheBytes = "cache_bytes"
        /// The agent's last report: events waiting in its WAL, events it dropped.
        case walBacklogEvents = "wal_backlog_events", droppedEvents = "dropped_events"

        var statistics: [Statistic] {
            switch self {
            case .stepTotalMs, .stepOCRMs, .stepUIMs, .stepAnalyzeMs: [.p50, .p95, .p99, .mean, .max, .count]
            case .successRate: [.rate]
            case .errorCount: [.count]
            case .executorAlive, .cacheBytes: [.last, .max, .min, .mean]
            case .walBacklogEvents, .droppedEvents: [.last]
            }
        }
    }

    public enum Statistic: String, Sendable, CaseIterable {
        case p50, p95, p99, mean, max, min, count, rate, last
    }

    public enum Comparison: String, Sendable, CaseIterable {
        case above = ">", atLeast = ">=", below = "<", atMost = "<="

        func holds(_ value: Double, _ threshold: Double) -> Bool {
            switch self {
            case .above: value > threshold
            case .atLeast: value >= threshold
            case .below: value < threshold
            case .atMost: value <= threshold
            }
        }

        /// Whether `value` is back on the good side of `clear` (hysteresis).
        func cleared(_ value: Double, _ clear: Double) -> Bool {
            switch self {
            case .above, .atLeast: value <= clear
            case .below, .atMost: value >= clear
            }
        }
    }

    public var name: String
    public var scope: Scope
    public var metric: Metric
    public var statistic: Statistic
    public var comparison: Comparison
    public var threshold: Double
    /// Defaults to `threshold`.
    public var clearThreshold: Double
    public var window: Duration
    /// Samples needed in the window before the rule judges a target (steps, runs, resource samples).
    public var minSample: Int
    /// For `error_count`: `component`, `severity`, `type` must equal these.
    public var filter: [String: String]
    /// For `success_rate` at agent scope: act only if the rest of the fleet runs the workflow at least this well.
    public var healthyElsewhere: Double?
    /// `alert` (no command) or an agent action.
    public var action: String
    public var actionArgs: [String: CommandValue]
    public var revertAction: String?
    public var revertArgs: [String: CommandValue]
    /// A remediation stays at least this long before it is reverted (so a fix that works is not undone at once).
    public var revertAfter: Duration
    public var cooldown: Duration
    /// How long after a command succeeded the value is measured again to judge its effect.
    public var effectAfter: Duration
    /// After this many ineffective remediations on a target the rule stops acting there and raises an alert.
    public var maxIneffective: Int
    public var dryRun: Bool

    public var isAlertOnly: Bool { action == "alert" }
}

extension Rule {
    /// Reads one `[[rules]]` table; every error names its key.
    init(table t: ConfigTable) throws(ConfigError) {
        name = try t.string("name", default: "")
        guard !name.isEmpty, name.utf8.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw t.error("name", "required: 1–64 letters, digits, '-', '_' or '.'")
        }
        func choice<E: RawRepresentable & CaseIterable>(_ key: String, _ def: String?) throws(ConfigError) -> E where E.RawValue == String {
            let text = try t.string(key, default: def ?? "")
            guard let value = E(rawValue: text) else {
                let accepted = E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                throw t.error(key, text.isEmpty ? "required: one of \(accepted)" : "\"\(text)\" is not one of \(accepted)")
            }
            return value
        }
        scope = try choice("scope", "agent")
        metric = try choice("metric", nil)
        statistic = try choice("statistic", metric.statistics.first?.rawValue)
        guard metric.statistics.contains(statistic) else {
            throw t.error("statistic", "\"\(statistic.rawValue)\" does not apply to \(metric.rawValue) (use \(metric.statistics.map(\.rawValue).joined(separator: ", ")))")
        }
        comparison = try choice("comparison", nil)
        guard let threshold = try t.optionalDouble("threshold") else { throw t.error("threshold", "required: a number") }
        self.threshold = threshold
        clearThreshold = try t.optionalDouble("clear_threshold") ?? threshold
        guard comparison.cleared(clearThreshold, threshold) || clearThreshold == threshold else {
            throw t.error("clear_threshold", "must be on the healthy side of threshold (for \"\(comparison.rawValue)\" a value that does not fire)")
        }
        window = try t.duration("window", default: .seconds(300), range: .seconds(1)...(.seconds(7 * 86_400)))
        minSample = try t.int("min_sample", default: 1, range: 0...1_000_000)
        var filter: [String: String] = [:]
        for (key, value) in try t.scalars("filter") {
            guard ["component", "severity", "type"].contains(key), metric == .errorCount else {
                throw t.error("filter.\(key)", "filters apply to error_count only, by component, severity or type")
            }
            filter[key] = value.description
        }
        self.filter = filter
        healthyElsewhere = try t.optionalDouble("healthy_elsewhere")
        if healthyElsewhere != nil, metric != .successRate || scope != .agent {
            throw t.error("healthy_elsewhere", "applies to metric \"success_rate\" at scope \"agent\" only")
        }
        action = try t.string("action", default: "")
        guard !action.isEmpty else { throw t.error("action", "required: \"alert\" or an agent action such as \"set_flags\"") }
        if scope != .agent, action != "alert" {
            throw t.error("action", "scope \"\(scope.rawValue)\" can only raise an alert (commands go to agents: use scope \"agent\")")
        }
        if scope == .workflow, [.executorAlive, .cacheBytes, .walBacklogEvents, .droppedEvents].contains(metric) {
            throw t.error("scope", "\(metric.rawValue) is measured per agent, not per workflow")
        }
        actionArgs = try t.scalars("action_args")
        revertAction = try t.optionalString("revert_action")
        revertArgs = try t.scalars("revert_args")
        if revertAction != nil, action == "alert" { throw t.error("revert_action", "an alert has nothing to revert") }
        revertAfter = try t.duration("revert_after", default: .zero, range: .zero...(.seconds(30 * 86_400)))
        cooldown = try t.duration("cooldown", default: .seconds(600), range: .seconds(0)...(.seconds(30 * 86_400)))
        effectAfter = try t.duration("effect_after", default: window, range: .seconds(1)...(.seconds(7 * 86_400)))
        maxIneffective = try t.int("max_ineffective", default: 3, range: 1...1000)
        dryRun = try t.bool("dry_run", default: false)
    }

    /// "p95 step_analyze_ms > 3000 over 5m".
    var conditionText: String {
        "\(statistic.rawValue) \(metric.rawValue) \(comparison.rawValue) \(Self.format(threshold)) over \(ConfigValues.format(window))"
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String((value * 1000).rounded() / 1000)
    }
}
