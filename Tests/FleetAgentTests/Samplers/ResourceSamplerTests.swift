import FleetTestSupport
import FleetCore
import Foundation
import Testing

@testable import FleetAgent

@Suite("Resource sampler on this machine")
struct ResourceSamplerTests {
    @Test("a sample from /proc is plausible and valid; executor liveness from a pid file; cache size")
    func sample() throws {
        let dir = temporaryDirectory("fleet-sampler")
        try Data(repeating: 7, count: 10_000).write(to: URL(fileURLWithPath: dir + "/a.bin"))
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        try Data(repeating: 7, count: 2_345).write(to: URL(fileURLWithPath: dir + "/sub/b.bin"))
        try "\(getpid())\n".write(toFile: dir + "/exec.pid", atomically: true, encoding: .utf8)
        var settings = ResourceSampler.Settings()
        settings.executorPIDFile = dir + "/exec.pid"
        settings.cacheDirectory = dir
        settings.nvidiaSMI = ""
        let probe = LinuxProbe()
        let sampler = ResourceSampler(recorder: Recorder(), probe: probe, settings: settings, dataDirectory: dir)
        let before = probe.cpuTimes()
        var x = 0.0
        for i in 0..<3_000_000 { x += sqrt(Double(i)) }
        #expect(x > 0)
        let sample = sampler.sample(previousCPU: before, currentCPU: probe.cpuTimes())
        #expect(sample.memoryTotalBytes > 0 && sample.memoryUsedBytes <= sample.memoryTotalBytes)
        #expect(sample.diskFreeBytes > 0)
        #expect((0...100).contains(sample.cpuPercent))
        #expect(sample.executorAlive == true)
        #expect(sample.cacheBytes ?? 0 >= 12_345)
        try Event(.resourceSample(sample)).validate()

        try "999999999\n".write(toFile: dir + "/exec.pid", atomically: true, encoding: .utf8)
        #expect(sampler.executorAlive() == false)
        settings.executorPIDFile = nil
        settings.executorProcess = "no-such-executor"
        #expect(ResourceSampler(recorder: Recorder(), probe: probe, settings: settings, dataDirectory: dir).executorAlive() == false)
    }

    @Test("environment facts name the OS, kernel, CPU and memory; operator facts win")
    func facts() {
        let facts = EnvironmentProbe.facts(probe: LinuxProbe(), extra: ["executor_version": "2.4.1", "os": "custom"])
        #expect(facts["kernel"]?.isEmpty == false)
        #expect(facts["cpu_count"] != nil && facts["memory_bytes"] != nil)
        #expect(facts["executor_version"] == "2.4.1")
        #expect(facts["os"] == "custom")
        #expect(facts["agent_version"] == FleetAgentInfo.version)
    }

    @Test("the program's pages go back to the OS: resident file pages drop")
    func releaseProgramPages() throws {
        // This test process's own binary is mapped by no other process, so its pages can go.
        let (before, after) = try #require(LinuxProbe().releaseProgramPages())
        #expect(before > 1 << 20)
        #expect(after < before, "RssFile \(before) → \(after) bytes")
    }

    @Test("memory.release_start_pages_after: 10 s by default, a duration, or \"off\"; anything else names the key")
    func releaseStartPagesConfig() throws {
        let head = "agent_id = \"pc-1\"\n"
        #expect(try AgentConfiguration(toml: head).memory.releaseStartPagesAfter == .seconds(10))
        #expect(try AgentConfiguration(toml: head + "[memory]\nrelease_start_pages_after = \"1m\"\n").memory.releaseStartPagesAfter == .seconds(60))
        #expect(try AgentConfiguration(toml: head + "[memory]\nrelease_start_pages_after = \"off\"\n").memory.releaseStartPagesAfter == nil)
        for value in ["\"0s\"", "\"soon\"", "true"] {
            do {
                _ = try AgentConfiguration(toml: head + "[memory]\nrelease_start_pages_after = \(value)\n")
                Issue.record("accepted: \(value)")
            } catch {
                #expect(error.key == "memory.release_start_pages_after", "\(value): \(error)")
            }
        }
    }
}
