import AsyncHTTPClient
import FleetCollector
import FleetCore
import FleetPKI
import FleetTestSupport
import Foundation
import Testing

@testable import fleetctl

/// `fleetctl status` on a seeded store: the screen against a golden file, and
/// `--json` against the documented schema (docs/schemas/fleet-summary.schema.json).
@Suite("fleetctl status")
struct StatusGoldenTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// Three agents over the last 40 minutes: fixed durations and outcomes, two environments, one stuck run.
    static func seed() -> [Batch] {
        let now = Timestamp.now().microsecondsSinceEpoch
        var batches: [Batch] = []
        for (a, agent) in ["pc-1", "pc-2", "pc-3"].enumerated() {
            var log = RecordLog()
            func add(_ ts: Int64, _ payload: EventPayload) { log.append(ts, payload) }
            let start = now - 40 * 60_000_000
            add(start, .environment(EnvironmentFacts(facts: ["os": "Windows 11", "dpi": a == 2 ? "144" : "96"])))
            for run in 0..<12 {
                let workflow = run % 3 == 0 ? "payroll" : "invoice"
                let id = "\(agent)-\(run)"
                let t0 = start + Int64(run) * 120_000_000
                add(t0, .executionStarted(ExecutionStarted(executionID: id, workflowID: workflow, totalSteps: 4)))
                for n in 1...4 {
                    let t = t0 + Int64(n) * 1_000_000
                    add(
                        t,
                        .stepFinished(
                            StepFinished(
                                executionID: id, workflowID: workflow, nodeID: "n\(n)", stepNumber: n, actionType: "click",
                                startedAt: Timestamp(microsecondsSinceEpoch: t - 900_000), finishedAt: Timestamp(microsecondsSinceEpoch: t),
                                success: true, analyzeMs: 400, totalMs: 900)))
                }
                let failed = a == 2 && workflow == "invoice" && run % 2 == 1
                add(
                    t0 + 5_000_000,
                    .executionFinished(
                        ExecutionFinished(
                            executionID: id, workflowID: workflow, status: failed ? .failed : .success, totalSteps: 4,
                            stepsCompleted: 4, stepsFailed: failed ? 1 : 0, durationMs: Double(4000 + 250 * (run % 4)))))
            }
            if a == 1 { add(start, .executionStarted(ExecutionStarted(executionID: "stuck-1", workflowID: "payroll", totalSteps: 4))) }
            batches.append(Batch(agentID: agent, epoch: WALEpoch(rawValue: 5), records: log.records))
        }
        return batches
    }

    @Test("the status screen matches the golden file; --json validates against the schema")
    func status() async throws {
        try await TestCollector.with(agents: ["pc-1", "pc-2", "pc-3"]) { test in
            for batch in Self.seed() {
                let client = try test.agentClient(batch.agentID)
                #expect(try await test.send(client, batch).status == 200)
                try await client.shutdown()
            }
            let admin = try test.adminClient()
            let reply = try await test.admin(admin, "/v1/fleet/summary")
            try await admin.shutdown()
            let summary = reply.json
            let schema = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: Self.root.appendingPathComponent("docs/schemas/fleet-summary.schema.json")))
                    as? [String: Any])
            #expect(JSONSchema.errors(summary, schema) == [])

            let screen = StatusView.render(summary, collector: "https://fleet.lan:7444")
                .replacing(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/, with: "YYYY-MM-DD hh:mm:ss UTC")
            let goldenPath = Self.root.appendingPathComponent("Tests/FleetCollectorTests/Fleetctl/Golden/status.txt").path
            if ProcessInfo.processInfo.environment["FLEET_UPDATE_GOLDEN"] == "1" {
                try screen.write(toFile: goldenPath, atomically: true, encoding: .utf8)
            }
            let golden = try String(contentsOfFile: goldenPath, encoding: .utf8)
            #expect(screen == golden, "fleetctl status changed; if intended, run with FLEET_UPDATE_GOLDEN=1:\n\(screen)")

            // The binary's --json is the same document.
            let (code, out, err) = try await HealingProcessTests.fleetctl([
                "status", "--json", "--collector", "https://127.0.0.1:\(test.adminPort)", "--ca", test.pki.caCertificate,
                "--cert", test.pki.adminCertificate, "--key", test.pki.adminKey,
            ])
            #expect(code == 0, "\(err)")
            let printed = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
            #expect(JSONSchema.errors(printed, schema) == [])
            #expect((printed["agents"] as? [String: Any])?["online"] as? Int == 3)
        }
    }

    @Test("fleetctl report writes a self-contained HTML file whose charts headless Chromium draws")
    func report() async throws {
        try await TestCollector.with(agents: ["pc-1", "pc-2", "pc-3"]) { test in
            for batch in Self.seed() {
                let client = try test.agentClient(batch.agentID)
                #expect(try await test.send(client, batch).status == 200)
                try await client.shutdown()
            }
            let html = test.directory + "/report.html"
            let (code, out, err) = try await HealingProcessTests.fleetctl([
                "report", "--since", "1h", "--points", "4", "--out", html, "--collector", "https://127.0.0.1:\(test.adminPort)",
                "--ca", test.pki.caCertificate, "--cert", test.pki.adminCertificate, "--key", test.pki.adminKey,
            ])
            #expect(code == 0, "\(out)\(err)")
            let text = try String(contentsOfFile: html, encoding: .utf8)
            // Self-contained: nothing to fetch.
            #expect(!text.contains("<script") && !text.contains("<link") && !text.contains("src="))
            #expect(text.contains("<polyline") && text.contains("Failures by environment"))

            guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                Issue.record("chromium not found: install the Debian package chromium (deploy/install-deps --test does)")
                return
            }
            let png = test.directory + "/report.png"
            let browser = Process()
            browser.executableURL = URL(fileURLWithPath: chromium)
            browser.arguments = [
                "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,1600",
                "--screenshot=\(png)", "file://\(html)",
            ]
            browser.standardOutput = FileHandle.nullDevice
            browser.standardError = FileHandle.nullDevice
            try browser.run()
            await Self.wait(browser)
            #expect(FileManager.default.fileExists(atPath: png), "no screenshot from \(chromium)")
            // Pixels of the success-rate line (teal), the analyze p95 line (orange) and the failure bars (red).
            let counter = Process()
            counter.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            counter.arguments = [
                "python3", Self.root.appendingPathComponent("Tests/FleetCollectorTests/Fleetctl/png_colours.py").path, png,
                "2a9d8f", "e76f51", "c0392b",
            ]
            let pipe = Pipe()
            counter.standardOutput = pipe
            try counter.run()
            await Self.wait(counter)
            let counts = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            #expect(counts.count == 3 && counts.allSatisfy { $0 > 100 }, "chart pixels (teal, orange, red): \(counts)")
        }
    }

    @Test("fleetctl settings: flags beat the environment, which beats ~/.config/fleet/fleetctl.toml")
    func settingsPrecedence() async throws {
        try await TestCollector.with(agents: ["pc-1"]) { test in
            let home = test.directory + "/home"
            try FileManager.default.createDirectory(atPath: home + "/.config/fleet", withIntermediateDirectories: true)
            let good = "https://127.0.0.1:\(test.adminPort)"
            let dead = "https://127.0.0.1:1"
            try """
                collector = "\(dead)"
                ca_file = "\(test.pki.caCertificate)"
                token = "test"
                """.write(toFile: home + "/.config/fleet/fleetctl.toml", atomically: true, encoding: .utf8)
            // The file alone: its (dead) collector, exit 3.
            #expect(try await HealingProcessTests.fleetctl(["agents", "--json"], environment: ["HOME": home]).0 == 3)
            // The environment beats the file (token and CA still from the file).
            let (code, out, err) = try await HealingProcessTests.fleetctl(["agents", "--json"], environment: ["HOME": home, "FLEET_COLLECTOR": good])
            #expect(code == 0, "\(err)")
            #expect(out.contains("\"agents\""))
            // A flag beats the environment.
            #expect(try await HealingProcessTests.fleetctl(["agents", "--collector", dead], environment: ["HOME": home, "FLEET_COLLECTOR": good]).0 == 3)
            // A wrong token is an error (1), not unreachable; no collector at all is a usage error (2).
            #expect(try await HealingProcessTests.fleetctl(["agents"], environment: ["HOME": home, "FLEET_COLLECTOR": good, "FLEET_TOKEN": "wrong"]).0 == 1)
            #expect(try await HealingProcessTests.fleetctl(["agents"]).0 == 2)
        }
    }

    /// Waits for a process off the cooperative pool (the collector under test runs in this process).
    static func wait(_ process: Process) async {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                process.waitUntilExit()
                continuation.resume()
            }
        }
    }

    @Test("the schema checker rejects what the schema forbids")
    func schemaCheckerCanFail() throws {
        let schema = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: Self.root.appendingPathComponent("docs/schemas/fleet-summary.schema.json")))
                as? [String: Any])
        #expect(!JSONSchema.errors(["generated_at": 5], schema).isEmpty)
        let period: [String: Any] = ["window": "1h", "runs": 1, "successes": 1, "success_rate": NSNull(), "p95_duration_ms": "fast"]
        #expect(JSONSchema.errors(period, ["$ref": "#/$defs/period"], root: schema) == ["$.p95_duration_ms: expected number or null"])
    }
}

/// The subset of JSON Schema the documented schemas use: $ref, type, required,
/// properties, additionalProperties: false, items.
enum JSONSchema {
    static func errors(_ value: Any, _ schema: [String: Any], root: [String: Any]? = nil, path: String = "$") -> [String] {
        let root = root ?? schema
        if let ref = schema["$ref"] as? String {
            let name = ref.replacingOccurrences(of: "#/$defs/", with: "")
            guard let target = (root["$defs"] as? [String: Any])?[name] as? [String: Any] else { return ["\(path): unknown \(ref)"] }
            return errors(value, target, root: root, path: path)
        }
        var problems: [String] = []
        if let type = schema["type"] {
            let types = (type as? [String]) ?? [(type as? String) ?? ""]
            guard types.contains(where: { matches(value, $0) }) else { return ["\(path): expected \(types.joined(separator: " or "))"] }
            if value is NSNull { return [] }
        }
        if let object = value as? [String: Any] {
            for key in (schema["required"] as? [String]) ?? [] where object[key] == nil { problems.append("\(path): missing \(key)") }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, child) in object.sorted(by: { $0.key < $1.key }) {
                if let sub = properties[key] as? [String: Any] {
                    problems += errors(child, sub, root: root, path: "\(path).\(key)")
                } else if (schema["additionalProperties"] as? Bool) == false {
                    problems.append("\(path): unexpected \(key)")
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (i, element) in array.enumerated() { problems += errors(element, items, root: root, path: "\(path)[\(i)]") }
        }
        return problems
    }

    /// JSONSerialization gives booleans as NSNumbers of type char.
    static func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    static func matches(_ value: Any, _ type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "string": return value is String
        case "boolean": return (value as? NSNumber).map(isBoolean) ?? false
        case "integer", "number":
            guard let n = value as? NSNumber, !isBoolean(n) else { return false }
            return type == "number" || n.doubleValue == n.doubleValue.rounded()
        default: return false
        }
    }
}
