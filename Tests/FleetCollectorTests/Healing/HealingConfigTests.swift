@testable import FleetAgent
@testable import FleetCollector
import FleetCore
import Testing

/// Rules in collector.toml and actions in agent.toml: a mistake names its key.
@Suite("Self-healing configuration")
struct HealingConfigTests {
    static let base = """
        [[rules]]
        name = "r"
        metric = "step_analyze_ms"
        comparison = ">"
        threshold = 3000
        action = "set_flags"

        """

    @Test("bad rules are refused with the key named", arguments: [
        ("name = \"bad name\"", "rules[0].name"),
        ("metric = \"cpu\"", "rules[0].metric"),
        ("statistic = \"rate\"", "rules[0].statistic"),
        ("comparison = \"=>\"", "rules[0].comparison"),
        ("threshold = \"high\"", "rules[0].threshold"),
        ("clear_threshold = 4000", "rules[0].clear_threshold"),
        ("scope = \"fleet\"", "rules[0].action"),
        ("filter = { component = \"ocr\" }", "rules[0].filter.component"),
        ("healthy_elsewhere = 0.8", "rules[0].healthy_elsewhere"),
        ("cooldown = \"soon\"", "rules[0].cooldown"),
        ("colour = \"red\"", "rules[0].colour"),
    ])
    func badRules(line: String, key: String) throws {
        var toml = Self.base
        // A later assignment of a key the base sets would be a TOML error: replace those.
        for prefix in ["name", "metric", "comparison", "threshold"] where line.hasPrefix(prefix + " ") {
            toml = toml.split(separator: "\n").filter { !$0.hasPrefix(prefix + " ") }.joined(separator: "\n") + "\n"
        }
        toml += line + "\n"
        do {
            _ = try CollectorConfiguration(toml: toml)
            Issue.record("accepted: \(line)")
        } catch {
            #expect(error.key == key, "\(error)")
        }
    }

    @Test("two rules with one name are refused; statistic and clear_threshold default")
    func duplicateNames() throws {
        #expect(throws: ConfigError.self) { try CollectorConfiguration(toml: Self.base + Self.base) }
        let rules = try CollectorConfiguration(toml: Self.base).rules
        #expect(rules.first?.statistic == .p50)
        #expect(rules.first?.clearThreshold == 3000)
    }

    @Test("agent actions: unknown names in allow, undeclared placeholders, relative programs, bad flag types are refused")
    func badActions() throws {
        let head = "agent_id = \"pc-1\"\n[actions]\n"
        for (toml, key) in [
            ("allow = [\"reboot\"]\n", "actions.allow"),
            ("[[actions.exec]]\nname = \"x\"\nargv = [\"sleep\", \"1\"]\n", "actions.exec[0].argv"),
            ("[[actions.exec]]\nname = \"x\"\nargv = [\"/bin/echo\", \"{text}\"]\n", "actions.exec[0].argv"),
            ("[[actions.exec]]\nname = \"flush\"\nargv = [\"/bin/true\"]\n", "actions.exec[0].name"),
            ("[actions.set_flags]\nkeys = { degraded = \"boolean\" }\n", "actions.set_flags.keys.degraded"),
            ("[[actions.exec]]\nname = \"x\"\nargv = [\"/bin/echo\", \"{n}\"]\nparams = { n = { type = \"int\", default = \"five\" } }\n", "actions.exec[0].params.n.default"),
        ] {
            do {
                _ = try AgentConfiguration(toml: head + toml)
                Issue.record("accepted: \(toml)")
            } catch {
                #expect(error.key == key, "\(toml): \(error)")
            }
        }
        let ok = try AgentConfiguration(
            toml: head + "allow = [\"set_flags\", \"restart\"]\n[[actions.exec]]\nname = \"restart\"\nargv = [\"/bin/echo\", \"{n}\"]\nparams = { n = { type = \"int\", min = 1, max = 3, default = 2 } }\n")
        #expect(ok.actions.allow == ["set_flags", "restart"])
        let exec = try #require(ok.actions.exec["restart"])
        #expect(try ExecAction.argv(exec, args: [:]) == ["/bin/echo", "2"])
        #expect(try ExecAction.argv(exec, args: ["n": .int(3)]) == ["/bin/echo", "3"])
        #expect(throws: ActionError.self) { try ExecAction.argv(exec, args: ["n": .int(4)]) }
        #expect(throws: ActionError.self) { try ExecAction.argv(exec, args: ["n": .string("3; reboot")]) }
        #expect(throws: ActionError.self) { try ExecAction.argv(exec, args: ["other": .int(1)]) }
    }
}
