import FleetTestSupport
import AsyncHTTPClient
import FleetCollector
import FleetCore
import FleetPKI
import GRDB
import Testing
import Foundation

#if canImport(Glibc)
import Glibc
#endif

@Suite("Ingest over mutual TLS")
struct IngestTests {
    func stepCount(_ test: TestCollector, agent: String) throws -> Int {
        let queue = try DatabaseQueue(path: test.collector.configuration.store.path)
        return try queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM steps WHERE agent_id = ?", arguments: [agent]) ?? -1
        }
    }

    func distinctSteps(_ test: TestCollector, agent: String) throws -> Int {
        let queue = try DatabaseQueue(path: test.collector.configuration.store.path)
        return try queue.read { db in
            try Int.fetchOne(db, sql: "SELECT count(DISTINCT node_id) FROM steps WHERE agent_id = ?", arguments: [agent]) ?? -1
        }
    }

    @Test("a full ingest queue answers 503 with Retry-After; queued batches still commit once the writer is free")
    func queueFull() async throws {
        try await TestCollector.with(adjust: {
            $0.ingest.queueCapacity = 1
            $0.ingest.retryAfter = .seconds(3)
        }) { test in
            let client = try test.agentClient("pc-1")
            // Hold SQLite's write lock from outside (on a thread of its own): the collector's writer
            // blocks on its first batch.
            // The collector may be writing itself (startup, rules): wait for the lock rather than fail.
            var blockerConfiguration = Configuration()
            blockerConfiguration.busyMode = .timeout(30)
            let blocker = try DatabaseQueue(path: test.collector.configuration.store.path, configuration: blockerConfiguration)
            let release = Locked(false)
            let locked = Locked<Result<Void, any Error>?>(nil)
            Thread.detachNewThread {
                do {
                    try blocker.inDatabase { db in
                        try db.execute(sql: "BEGIN IMMEDIATE")
                        locked.withLock { $0 = .success(()) }
                        while !release.withLock({ $0 }) { usleep(10_000) }
                        try db.execute(sql: "COMMIT")
                    }
                } catch {
                    locked.withLock { $0 = $0 ?? .failure(error) }
                }
            }
            while locked.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
            try locked.withLock { $0 }?.get()
            // One batch first, until the writer has taken it and blocks on the lock; then five at
            // once: one waits in the queue of one, and the other four are refused at once.
            let replies = Locked<[Int: TestCollector.Reply]>([:])
            var sends: [Task<Void, any Error>] = []
            func send(_ i: Int) {
                let batch = stepBatch(agentID: "pc-1", UInt64(i * 5 + 1)...UInt64(i * 5 + 5))
                sends.append(Task {
                    let reply = try await test.send(client, batch)
                    replies.withLock { $0[i] = reply }
                })
            }
            send(0)
            let taken = ContinuousClock.now + .seconds(10)
            while test.collector.pipeline.mergingCount == 0 && ContinuousClock.now < taken {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(test.collector.pipeline.mergingCount == 1)
            for i in 1..<6 { send(i) }
            let deadline = ContinuousClock.now + .seconds(6)
            while replies.withLock({ $0.count }) < 4 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let refused = replies.withLock { Array($0.values) }
            #expect(refused.count == 4)
            #expect(refused.allSatisfy { $0.status == 503 && $0.header("Retry-After") == "3" && $0.body.contains("queue is full") })
            release.withLock { $0 = true }
            for send in sends { try? await send.value }
            #expect(replies.withLock { $0.values.filter { $0.status == 200 }.count } == 2)
            #expect(try stepCount(test, agent: "pc-1") == 10)
            // Sent again after Retry-After, the refused batches are stored.
            for i in 0..<6 { _ = try await test.send(client, stepBatch(agentID: "pc-1", UInt64(i * 5 + 1)...UInt64(i * 5 + 5))) }
            #expect(try stepCount(test, agent: "pc-1") == 30)
            try await client.shutdown()
        }
    }

    @Test("a batch sent twice, overlapping batches and out-of-order batches are stored exactly once")
    func exactlyOnce() async throws {
        try await TestCollector.with { test in
            let client = try test.agentClient("pc-1")
            var reply = try await test.send(client, stepBatch(agentID: "pc-1", 1...10))
            #expect(reply.status == 200, "\(reply.body)")
            #expect(reply.json["accepted"] as? Int == 10)
            #expect(reply.json["acked_through"] as? Int == 10)
            reply = try await test.send(client, stepBatch(agentID: "pc-1", 1...10))
            #expect(reply.json["accepted"] as? Int == 0)
            #expect(reply.json["duplicates"] as? Int == 10)
            #expect(reply.json["acked_through"] as? Int == 10)
            reply = try await test.send(client, stepBatch(agentID: "pc-1", 5...15))
            #expect(reply.json["accepted"] as? Int == 5)
            #expect(reply.json["duplicates"] as? Int == 6)
            // Out of order: 21...30 before 16...20.
            reply = try await test.send(client, stepBatch(agentID: "pc-1", 21...30))
            #expect(reply.json["accepted"] as? Int == 10)
            #expect(reply.json["highest_seq"] as? Int == 30)
            reply = try await test.send(client, stepBatch(agentID: "pc-1", 16...20))
            #expect(reply.json["accepted"] as? Int == 5)
            reply = try await test.send(client, stepBatch(agentID: "pc-1", 1...30))
            #expect(reply.json["accepted"] as? Int == 0)
            #expect(reply.json["duplicates"] as? Int == 30)
            // A new epoch restarts sequences without colliding.
            reply = try await test.send(client, stepBatch(agentID: "pc-1", epoch: 8, 1...3, execution: "ex-2"))
            #expect(reply.json["accepted"] as? Int == 3)
            #expect(try stepCount(test, agent: "pc-1") == 33)
            let ranges = try await test.collector.store.committedRanges(agentID: "pc-1", epoch: WALEpoch(rawValue: 7))
            #expect(ranges == [1...30])
            try await client.shutdown()
        }
    }

    @Test("concurrent duplicate senders still store each event once")
    func concurrentDuplicates() async throws {
        try await TestCollector.with { test in
            let client = try test.agentClient("pc-1")
            try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<40 {
                    let lo = UInt64(i % 10) * 50 + 1
                    group.addTask { try await test.send(client, stepBatch(agentID: "pc-1", lo...(lo + 99))).status }
                }
                for try await status in group { #expect(status == 200) }
            }
            // The union of 1...100, 51...150, …, 451...550.
            #expect(try stepCount(test, agent: "pc-1") == 550)
            #expect(try distinctSteps(test, agent: "pc-1") == 550)
            try await client.shutdown()
        }
    }

    @Test("an agent certificate for pc-1 sending pc-2's batch gets 403")
    func crossAgent() async throws {
        try await TestCollector.with { test in
            let client = try test.agentClient("pc-1")
            let reply = try await test.send(client, stepBatch(agentID: "pc-2", 1...3))
            #expect(reply.status == 403)
            #expect(reply.body.contains("certificate names \\\"pc-1\\\""))
            #expect(try stepCount(test, agent: "pc-2") == 0)
            // The admin certificate is not an agent certificate.
            let admin = try test.adminClient()
            #expect(try await test.send(admin, stepBatch(agentID: "pc-1", 1...3)).status == 403)
            try await client.shutdown()
            try await admin.shutdown()
        }
    }

    @Test("no client certificate, or one from another CA, is refused in the handshake")
    func handshakeRefused() async throws {
        try await TestCollector.with { test in
            let anonymous = try TestCollector.client(ca: test.pki.caCertificate, certificate: nil, key: nil)
            await #expect(throws: (any Error).self) { _ = try await test.send(anonymous, stepBatch(agentID: "pc-1", 1...1)) }
            try await anonymous.shutdown()

            let other = PKIDirectory(path: temporaryDirectory("other-ca"))
            try other.initialize()
            try other.issueAgent("pc-1")
            let impostor = try TestCollector.client(
                ca: test.pki.caCertificate, certificate: other.agentCertificate("pc-1"), key: other.agentKey("pc-1"))
            await #expect(throws: (any Error).self) { _ = try await test.send(impostor, stepBatch(agentID: "pc-1", 1...1)) }
            try await impostor.shutdown()
            #expect(try stepCount(test, agent: "pc-1") == 0)
        }
    }

    @Test("the admin API needs the admin certificate or a token: 401 otherwise")
    func adminAuth() async throws {
        try await TestCollector.with { test in
            let anonymous = try TestCollector.client(ca: test.pki.caCertificate, certificate: nil, key: nil)
            var reply = try await test.admin(anonymous, "/v1/agents")
            #expect(reply.status == 401)
            #expect(reply.header("WWW-Authenticate") == "Bearer realm=\"fleet\"")
            #expect(try await test.admin(anonymous, "/v1/agents", token: "wrong").status == 401)
            reply = try await test.admin(anonymous, "/v1/agents", token: "test")
            #expect(reply.status == 200)
            let admin = try test.adminClient()
            #expect(try await test.admin(admin, "/v1/agents").status == 200)
            // An agent certificate is not an admin credential.
            let agent = try test.agentClient("pc-1")
            #expect(try await test.admin(agent, "/v1/agents").status == 401)
            for client in [anonymous, admin, agent] { try await client.shutdown() }
        }
    }

    @Test("a zstd bomb gets 413, garbage and truncated frames 400, and the server keeps serving")
    func hostileBodies() async throws {
        try await TestCollector.with { test in
            let client = try test.agentClient("pc-1")
            let bomb = zstdBomb(expandingTo: 1 << 30)
            let before = peakRSSBytes()
            var reply = try await test.post(client, bytes: bomb)
            #expect(reply.status == 413, "\(reply.body)")
            #expect(peakRSSBytes() - before < 256 << 20)

            reply = try await test.post(client, bytes: Array("garbage".utf8))
            #expect(reply.status == 400)
            let frame = try BatchFrame.encode(stepBatch(agentID: "pc-1", 1...5))
            reply = try await test.post(client, bytes: try Zstd.compress(Array(frame.dropLast(4))))
            #expect(reply.status == 400)
            #expect(reply.body.contains("truncated"))
            reply = try await test.post(client, bytes: Array(try BatchFrame.encodeCompressed(stepBatch(agentID: "pc-1", 1...5)).dropLast(5)))
            #expect(reply.status == 400)
            reply = try await test.post(client, bytes: frame, encoding: nil)
            #expect(reply.status == 415)
            reply = try await test.post(client, bytes: [UInt8](repeating: 1, count: 9 << 20))
            #expect(reply.status == 413)

            reply = try await test.send(client, stepBatch(agentID: "pc-1", 1...5))
            #expect(reply.status == 200)
            #expect(try stepCount(test, agent: "pc-1") == 5)
            try await client.shutdown()
        }
    }

    @Test("an agent over its rate limit gets 429 with Retry-After")
    func backpressure() async throws {
        // 1 event/s with a burst of 20: after 15 events the next 15 cannot pass for ~10 s, however slow the machine.
        try await TestCollector.with(adjust: { $0.ingest.agentEventsPerSecond = 1; $0.ingest.agentBurstEvents = 20 }) { test in
            let client = try test.agentClient("pc-1")
            var reply = try await test.send(client, stepBatch(agentID: "pc-1", 1...15))
            #expect(reply.status == 200)
            reply = try await test.send(client, stepBatch(agentID: "pc-1", 16...30))
            #expect(reply.status == 429)
            #expect(reply.header("Retry-After").flatMap(Int.init) ?? 0 >= 1)
            try await client.shutdown()
        }
    }
}
