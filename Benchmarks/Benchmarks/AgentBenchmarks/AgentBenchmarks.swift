import Benchmark
import BenchmarkSupport
import Foundation

/// Registers the agent benchmarks; the boilerplate the BenchmarkPlugin
/// generates calls it.
let benchmarks: @Sendable () -> Void = {
    RecordLatencyBenchmark.registerAll()
    GroupCommitBenchmark.register()
    WireSizeBenchmark.register()
    AgentProcessBenchmark.registerAll()
}

/// Where the agent benchmarks write (WALs, the `dd` file, PKI, collector
/// store, logs, the run report): `Benchmarks/.build/agent-benchmarks`, on
/// the same disk as the repository.
enum AgentBenchmarkFiles {
    static var directory: String { BenchmarkDirectory.named("agent-benchmarks") }

    /// A new, empty directory `NAME-UUID` in `directory`.
    static func makeScratchDirectory(_ name: String) throws -> String {
        let path = directory + "/" + name + "-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

extension RunReport {
    /// Adds `lines` to this run's agent report and prints it.
    static func add(_ lines: [Line]) {
        add(lines, directory: AgentBenchmarkFiles.directory, title: "Fleet agent benchmarks, this run so far")
    }
}
