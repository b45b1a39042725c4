import BenchmarkSupport
import Foundation
import Synchronization

/// Samples a process's VmRSS from `/proc/PID/status` at a fixed interval
/// until stopped.
final class MemorySampler: Sendable {
    /// One reading: seconds since the sampler started, VmRSS in KiB.
    struct Sample: Sendable {
        var seconds: Double
        var rssKiB: Int
    }

    private let samples = Mutex<[Sample]>([])
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(pid: Int32, every interval: Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        // The task keeps the sampler alive until `stop()` (or until the process is gone).
        let sampling = Task {
            while !Task.isCancelled {
                guard let memory = ProcStats.memory(pid) else { return }
                let seconds = start.duration(to: clock.now).inSeconds
                self.samples.withLock { $0.append(Sample(seconds: seconds, rssKiB: memory.rss)) }
                try? await Task.sleep(for: interval)
            }
        }
        task.withLock { $0 = sampling }
    }

    /// The samples so far.
    var readings: [Sample] { samples.withLock { $0 } }

    /// Stops sampling and returns every sample.
    func stop() async -> [Sample] {
        let running = task.withLock { $0 }
        running?.cancel()
        await running?.value
        return readings
    }

    /// Writes `samples` as CSV (`seconds,rss_kib`) to `path`.
    static func write(_ samples: [Sample], to path: String) {
        let text = "seconds,rss_kib\n" + samples.map { String(format: "%.2f", $0.seconds) + ",\($0.rssKiB)" }.joined(separator: "\n") + "\n"
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
