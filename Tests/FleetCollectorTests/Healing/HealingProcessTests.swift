import AsyncHTTPClient
import FleetCore
import FleetPKI
import FleetTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The self-healing loop end to end: real collector and agent processes over
/// mutual TLS, rules from collector.toml, actions from agent.toml.
@Suite("Self-healing with real processes", .serialized)
struct HealingProcessTests {
    /// p95 analyze_ms over 3 s in 2 s windows sets degraded = true; `tail` adds keys (revert, cooldown, …).
    static func slowAnalysisRule(_ tail: String) -> String {
        """
        [[rules]]
        name = "slow-analysis"
        metric = "step_analyze_ms"
        statistic = "p95"
        comparison = ">"
        threshold = 3000
        clear_threshold = 2000
        window = "2s"
        min_sample = 5
        action = "set_flags"
        action_args = { degraded = true }
        \(tail)
        """
    }

    static func flags(_ path: String) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    @Test("set_flags writes the flags file; the revert restores it when the condition clears")
    func setFlagsAndRevert() async throws {
        let rule = Self.slowAnalysisRule("revert_action = \"set_flags\"\nrevert_args = { degraded = false }\ncooldown = \"1m\"")
        let fleet = try await HealingFleet(agents: ["pc-1"], rules: rule)
        let data = try await fleet.startAgent("pc-1", actions: "[actions]\nallow = [\"set_flags\"]")
        let flagsFile = data + "/executor-flags.json"
        var n = 0
        // Slow analysis until the flag is set…
        try await fleet.eventually("degraded = true in \(flagsFile)") {
            try await fleet.post("pc-1", (0..<5).map { _ in n += 1; return HealingFleet.step(analyzeMs: 5000, n: n) })
            return Self.flags(flagsFile)?["degraded"] as? Bool == true
        }
        #expect(Self.flags(flagsFile)?.count == 1)
        // …then fast analysis until the revert lands.
        try await fleet.eventually("degraded = false after the condition cleared") {
            try await fleet.post("pc-1", (0..<5).map { _ in n += 1; return HealingFleet.step(analyzeMs: 150, n: n) })
            return Self.flags(flagsFile)?["degraded"] as? Bool == false
        }
        // The agent reports both results through its WAL.
        try await fleet.eventually("both results stored") {
            try await fleet.commands().allSatisfy {
                $0["state"] as? String == "succeeded" && ($0["output_tail"] as? String)?.contains("degraded") == true
            }
        }
        let commands = try await fleet.commands()
        #expect(commands.count == 2)
        #expect(commands.contains { $0["revert"] as? Bool == true && ($0["args"] as? [String: Any])?["degraded"] as? Bool == false })
        let kinds = try await fleet.ruleEvents("slow-analysis").compactMap { $0["kind"] as? String }
        #expect(kinds.contains("fired") && kinds.contains("reverted"))
        try await fleet.shutdown()
    }

    @Test("effectiveness: a fault degraded mode fixes is effective; one it does not fix is ineffective and escalates")
    func effectiveness() async throws {
        let fleet = try await HealingFleet(agents: ["pc-fixable", "pc-stubborn"], rules: Self.slowAnalysisRule("cooldown = \"2s\"\neffect_after = \"2s\"\nmax_ineffective = 2"))
        let fixableData = try await fleet.startAgent("pc-fixable", actions: "[actions]\nallow = [\"set_flags\"]")
        _ = try await fleet.startAgent("pc-stubborn", actions: "[actions]\nallow = [\"set_flags\"]")
        // Simulated executors: pc-fixable obeys the flags file (degraded analysis is fast), pc-stubborn stays slow.
        let stop = Locked(false)
        let executors = Task {
            var n = 0
            while !stop.withLock({ $0 }) {
                n += 1
                let degraded = Self.flags(fixableData + "/executor-flags.json")?["degraded"] as? Bool == true
                try? await fleet.post("pc-fixable", [HealingFleet.step(analyzeMs: degraded ? 300 : 5200, n: n)])
                try? await fleet.post("pc-stubborn", [HealingFleet.step(analyzeMs: 5200, n: n)])
                try? await Task.sleep(for: .milliseconds(80))
            }
        }
        try await fleet.eventually("pc-fixable effective, pc-stubborn escalated", timeout: .seconds(60)) {
            let alerts = try await fleet.get("/v1/alerts")["alerts"] as? [[String: Any]] ?? []
            let fixable = try await fleet.commands("&agent=pc-fixable")
            return fixable.contains { $0["effect"] as? String == "effective" }
                && alerts.contains { $0["target"] as? String == "pc-stubborn" && $0["escalated"] as? Bool == true }
        }
        let stubborn = try await fleet.commands("&agent=pc-stubborn")
        #expect(stubborn.filter { $0["effect"] as? String == "ineffective" }.count == 2)
        // Escalated: the rule stops acting on pc-stubborn.
        let before = stubborn.count
        try await Task.sleep(for: .seconds(4))
        #expect(try await fleet.commands("&agent=pc-stubborn").count == before)
        let fixable = try await fleet.commands("&agent=pc-fixable")
        let effective = try #require(fixable.first { $0["effect"] as? String == "effective" })
        #expect((effective["value_before"] as? Double ?? 0) > 3000)
        #expect((effective["value_after"] as? Double ?? .infinity) < 3000)
        // fleetctl status reads these from the fleet summary.
        let summary = try await fleet.get("/v1/fleet/summary")
        #expect((summary["alerts"] as? [[String: Any]])?.isEmpty == false)
        #expect(((summary["remediations"] as? [String: Any])?["effective_24h"] as? Int ?? 0) >= 1)
        stop.withLock { $0 = true }
        _ = await executors.value
        try await fleet.shutdown()
    }

    @Test("once per cooldown per target; the fleet cap holds under 50 simultaneous triggers; dry run sends nothing")
    func cooldownCapAndDryRun() async throws {
        let agents = (1...50).map { String(format: "pc-%02d", $0) }
        let rules = """
            [[rules]]
            name = "vlm-errors"
            metric = "error_count"
            filter = { component = "ui_detection" }
            comparison = ">="
            threshold = 1
            window = "1m"
            action = "set_flags"
            action_args = { enable_ui_detection = false }
            cooldown = "3s"

            [[rules]]
            name = "vlm-errors-dry"
            metric = "error_count"
            filter = { component = "ui_detection" }
            comparison = ">="
            threshold = 1
            window = "1m"
            action = "set_flags"
            action_args = { enable_ui_detection = false }
            cooldown = "1h"
            dry_run = true
            """
        let fleet = try await HealingFleet(agents: agents, rules: rules, remediation: "max_in_flight = 7")
        // pc-01 runs and executes its commands; the other 49 only report (their commands stay in flight).
        _ = try await fleet.startAgent("pc-01", actions: "[actions]\nallow = [\"set_flags\"]")
        let start = ContinuousClock.now
        try await fleet.post("pc-01", [HealingFleet.error(component: "ui_detection")])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for agent in agents.dropFirst() {
                group.addTask {
                    let client = try TestCollector.client(
                        ca: fleet.pki.caCertificate, certificate: fleet.pki.agentCertificate(agent), key: fleet.pki.agentKey(agent))
                    let batch = Batch(
                        agentID: agent, epoch: WALEpoch(rawValue: 1),
                        records: [.init(sequence: 1, event: Event(.error(ErrorEvent(errorType: "vlm_timeout", message: "timeout", component: "ui_detection", severity: .high))))])
                    var request = HTTPClientRequest(url: "https://127.0.0.1:\(fleet.ingestPort)/v1/batches")
                    request.method = .POST
                    request.headers.add(name: "Content-Encoding", value: "zstd")
                    request.body = .bytes(ByteBuffer(bytes: try BatchFrame.encodeCompressed(batch)))
                    let response = try await client.execute(request, timeout: .seconds(30))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    try await client.shutdown()
                    guard response.status == .ok else { throw ProcessFailure("\(agent): \(response.status)") }
                }
            }
            try await group.waitForAll()
        }
        // pc-01 keeps its error in the window for ~8 s: its rule fires at most once per 3 s cooldown.
        // Meanwhile, the commands in flight never exceed the cap, and the cap is reached.
        var mostInFlight = 0
        while ContinuousClock.now - start < .seconds(8) {
            let open = try await fleet.commands("&rule=vlm-errors").filter {
                ["pending", "delivered", "running"].contains($0["state"] as? String ?? "")
            }
            mostInFlight = max(mostInFlight, open.count)
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(mostInFlight == 7, "remediation.max_in_flight = 7; most seen in flight: \(mostInFlight)")
        let elapsed = (ContinuousClock.now - start).components.seconds
        let commands = try await fleet.commands("&rule=vlm-errors")
        let events = try await fleet.ruleEvents("vlm-errors")
        let suppressed = Set(events.filter { $0["kind"] as? String == "suppressed" }.compactMap { $0["target"] as? String })
        let fired = Set(commands.compactMap { $0["agent_id"] as? String })
        #expect(fired.union(suppressed).count == 50, "every target either got a command or a suppressed record")
        // Per target, commands are at least a cooldown apart.
        let pc01 = commands.filter { $0["agent_id"] as? String == "pc-01" }.compactMap { ($0["created_at"] as? String).flatMap(Timestamp.init(rfc3339:)) }.sorted()
        #expect(pc01.count >= 1 && pc01.count <= Int(elapsed) / 3 + 1, "pc-01 commands: \(pc01.count) in \(elapsed) s")
        for (a, b) in zip(pc01, pc01.dropFirst()) {
            #expect(b.microsecondsSinceEpoch - a.microsecondsSinceEpoch >= 3_000_000)
        }
        // Dry run: decisions recorded for all 50, no command.
        let dry = try await fleet.ruleEvents("vlm-errors-dry")
        #expect(Set(dry.filter { $0["kind"] as? String == "dry_run" }.compactMap { $0["target"] as? String }).count == 50)
        #expect(try await fleet.commands("&rule=vlm-errors-dry").isEmpty)
        // The same audit through fleetctl.
        let (code, out, err) = try await Self.fleetctl([
            "rules", "--events", "--rule", "vlm-errors-dry", "--limit", "200", "--json",
            "--collector", "https://127.0.0.1:\(fleet.adminPort)", "--ca", fleet.pki.caCertificate, "--token", "test",
        ])
        #expect(code == 0, "\(err)")
        let listed = (try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])?["events"] as? [[String: Any]] ?? []
        #expect(listed.filter { $0["kind"] as? String == "dry_run" }.count >= 50)
        try await fleet.shutdown()
    }

    @Test("commands run at most once across an agent SIGKILL; not allowed is refused and audited; exec timeout and literal arguments")
    func agentSafety() async throws {
        let fleet = try await HealingFleet(agents: ["pc-1"], rules: "")
        let script = fleet.dir + "/slow-job"
        let runs = fleet.dir + "/runs.txt"
        // An operator's program (a script with its own interpreter line; the agent never uses a shell).
        try "#!/bin/sh\necho run >> \"$1\"\nsleep 4\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let marker = fleet.dir + "/pwned"
        let actions = """
            [actions]
            allow = ["slow_job", "sleeper", "echo_text"]
            [[actions.exec]]
            name = "slow_job"
            argv = ["\(script)", "\(runs)"]
            timeout = "30s"
            [[actions.exec]]
            name = "sleeper"
            argv = ["/bin/sleep", "30"]
            timeout = "500ms"
            [[actions.exec]]
            name = "echo_text"
            argv = ["/bin/echo", "{text}"]
            params = { text = { type = "string" } }
            """
        _ = try await fleet.startAgent("pc-1", actions: actions)
        try await fleet.post("pc-1", [HealingFleet.step(analyzeMs: 10, n: 1)])
        try await fleet.eventually("pc-1 known to the collector") { try await fleet.queue("pc-1", "flush").0 == 201 }

        // An idle agent gets a command within a second (long-poll), and runs it.
        let queuedAt = ContinuousClock.now
        let (_, diagnostics) = try await fleet.queue("pc-1", "echo_text", args: ["text": "ping"])
        let pingID = try #require(diagnostics["id"] as? String)
        try await fleet.eventually("ping delivered", timeout: .seconds(5)) {
            try await fleet.get("/v1/commands/\(pingID)")["state"] as? String != "pending"
        }
        let deliveredAfter = ContinuousClock.now - queuedAt
        #expect(deliveredAfter < .milliseconds(1500), "delivered after \(deliveredAfter)")

        // At most once: kill the agent while the job runs, restart it; the collector redelivers, the job does not run again.
        let (status, queued) = try await fleet.queue("pc-1", "slow_job")
        #expect(status == 201)
        let id = try #require(queued["id"] as? String)
        try await fleet.eventually("the job started") {
            ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").contains("run")
        }
        fleet.kill("pc-1")
        _ = try await fleet.startAgent("pc-1", actions: actions)
        try await fleet.eventually("the interrupted job reported") {
            try await fleet.get("/v1/commands/\(id)")["state"] as? String == "failed"
        }
        try await Task.sleep(for: .seconds(6))  // redelivery after 2 s; a second run would have appended by now
        #expect(try String(contentsOfFile: runs, encoding: .utf8) == "run\n")
        let job = try await fleet.get("/v1/commands/\(id)")
        #expect((job["reason"] as? String ?? "").contains("not run again"))
        #expect((job["deliveries"] as? Int ?? 0) >= 1)

        // Not in the allow-list: refused, reported, audited with the operator.
        let (_, reboot) = try await fleet.queue("pc-1", "reboot")
        let rebootID = try #require(reboot["id"] as? String)
        try await fleet.eventually("reboot refused") { try await fleet.get("/v1/commands/\(rebootID)")["state"] as? String == "refused" }
        let refused = try await fleet.get("/v1/commands/\(rebootID)")
        #expect((refused["reason"] as? String ?? "").contains("not allowed"))
        #expect((refused["caused_by"] as? String ?? "").contains("operator token"))
        #expect(try await fleet.commands("&agent=pc-1&state=refused").count >= 1)
        // An argument not declared is refused too.
        let (_, extra) = try await fleet.queue("pc-1", "sleeper", args: ["seconds": 1])
        let extraID = try #require(extra["id"] as? String)
        try await fleet.eventually("undeclared argument refused") { try await fleet.get("/v1/commands/\(extraID)")["state"] as? String == "refused" }

        // Over its timeout: killed and reported.
        let (_, sleeper) = try await fleet.queue("pc-1", "sleeper")
        let sleeperID = try #require(sleeper["id"] as? String)
        try await fleet.eventually("sleeper timed out") { try await fleet.get("/v1/commands/\(sleeperID)")["state"] as? String == "timed_out" }
        let slept = try await fleet.get("/v1/commands/\(sleeperID)")
        #expect((slept["duration_ms"] as? Double ?? .infinity) < 5_000)

        // Shell metacharacters arrive as one literal argument.
        let text = "$(touch \(marker)); `touch \(marker)` | cat > \(marker) && echo pwned; rm -rf \"$HOME\""
        let (_, echo) = try await fleet.queue("pc-1", "echo_text", args: ["text": text])
        let echoID = try #require(echo["id"] as? String)
        try await fleet.eventually("echo finished") { try await fleet.get("/v1/commands/\(echoID)")["state"] as? String == "succeeded" }
        #expect(try await fleet.get("/v1/commands/\(echoID)")["output_tail"] as? String == text + "\n")
        #expect(!FileManager.default.fileExists(atPath: marker))

        // fleetctl recover --wait, with the admin certificate: audited with the admin's name, result shown.
        let (code, out, err) = try await Self.fleetctl([
            "recover", "pc-1", "echo_text", "--arg", "text=hello fleet", "--wait",
            "--collector", "https://127.0.0.1:\(fleet.adminPort)", "--ca", fleet.pki.caCertificate,
            "--cert", fleet.pki.adminCertificate, "--key", fleet.pki.adminKey,
        ])
        #expect(code == 0, "\(out)\(err)")
        #expect(out.contains("succeeded") && out.contains("hello fleet"), "\(out)")
        let audited = try await fleet.commands("&agent=pc-1").first { $0["action"] as? String == "echo_text" && ($0["args"] as? [String: Any])?["text"] as? String == "hello fleet" }
        let causedBy = audited?["caused_by"] as? String
        #expect(causedBy?.contains("admin") == true, "\(String(describing: audited))")
        let (listed, listing, _) = try await Self.fleetctl(["commands", "--agent", "pc-1", "--json", "--collector", "https://127.0.0.1:\(fleet.adminPort)", "--ca", fleet.pki.caCertificate, "--token", "test"])
        #expect(listed == 0)
        #expect(listing.contains("\"state\" : \"refused\""))
        // A refused action with --wait exits 1; an unreachable collector exits 3.
        #expect(try await Self.fleetctl(["recover", "pc-1", "reboot", "--wait", "--collector", "https://127.0.0.1:\(fleet.adminPort)", "--ca", fleet.pki.caCertificate, "--token", "test"]).0 == 1)
        #expect(try await Self.fleetctl(["commands", "--collector", "https://127.0.0.1:1", "--token", "test"]).0 == 3)
        try await fleet.shutdown()
    }

    /// Runs fleetctl; returns (exit status, stdout, stderr). Waits on a thread of its own: the
    /// collector under test may be in this process, and its handlers need the cooperative pool.
    static func fleetctl(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CollectorProcess.binary(named: "fleetctl"))
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("FLEET_") }
        environment["HOME"] = "/nonexistent"
        environment.merge(extra) { _, new in new }
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let stdout = out.fileHandleForReading.readDataToEndOfFile()
                let stderr = err.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(
                    returning: (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self)))
            }
        }
    }
}
