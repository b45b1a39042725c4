import FleetCore
import Foundation
import Logging
import ServiceLifecycle

/// Records a `resource_sample` every `interval` (agent.toml `[sampler]`): CPU %,
/// memory, free disk of the data directory, GPUs through nvidia-smi when
/// present, whether the executor runs (process name or pid file), and the
/// size of the executor's cache folder when configured.
public struct ResourceSampler: Service {
    public struct Settings: Sendable {
        public init() {}
        /// `sampler.interval`
        public var interval: Duration = .seconds(60)
        /// `sampler.executor_process`: executable name to look for.
        public var executorProcess: String?
        /// `sampler.executor_pid_file`: a pid file the executor writes.
        public var executorPIDFile: String?
        /// `sampler.cache_dir`: the executor's cache folder, measured for the clean_cache rule.
        public var cacheDirectory: String?
        /// `sampler.nvidia_smi`: path or name of nvidia-smi; empty disables GPU sampling.
        public var nvidiaSMI = "nvidia-smi"
    }

    let recorder: Recorder
    let probe: any PlatformProbe
    let settings: Settings
    let dataDirectory: String

    public init(recorder: Recorder, probe: any PlatformProbe, settings: Settings, dataDirectory: String) {
        self.recorder = recorder
        self.probe = probe
        self.settings = settings
        self.dataDirectory = dataDirectory
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var previous = probe.cpuTimes()
            try? await EventLoopTaskExecutor.sleep(for: .seconds(1))
            while !Task.isCancelled {
                let now = probe.cpuTimes()
                // nvidia-smi and the cache folder's walk block: off the agent's event loop.
                if let sample = await BlockingWork.run({ [self, previous] in self.sample(previousCPU: previous, currentCPU: now) }) {
                    recorder.record(Event(.resourceSample(sample)))
                }
                previous = now
                try? await EventLoopTaskExecutor.sleep(for: settings.interval)
            }
        }
    }

    /// One sample, CPU % from two cumulative readings.
    func sample(previousCPU: (busy: UInt64, total: UInt64)?, currentCPU: (busy: UInt64, total: UInt64)?) -> ResourceSample {
        var cpu = 0.0
        if let a = previousCPU, let b = currentCPU, b.total > a.total, b.busy >= a.busy {
            cpu = min(100, Double(b.busy - a.busy) * 100 / Double(b.total - a.total))
        }
        let memory = probe.memory() ?? (0, 0)
        return ResourceSample(
            cpuPercent: cpu, memoryUsedBytes: memory.used, memoryTotalBytes: memory.total,
            diskFreeBytes: probe.diskFree(path: dataDirectory) ?? 0,
            gpus: settings.nvidiaSMI.isEmpty ? [] : (NvidiaSMI.sample(executable: settings.nvidiaSMI) ?? []),
            executorAlive: executorAlive(), cacheBytes: settings.cacheDirectory.map(Self.directorySize))
    }

    func executorAlive() -> Bool? {
        if let file = settings.executorPIDFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
            else { return false }
            return kill(pid, 0) == 0 || errno == EPERM
        }
        if let name = settings.executorProcess { return probe.processRunning(named: name) }
        return nil
    }

    static func directorySize(_ path: String) -> UInt64 {
        DiskUsage.bytes(path)
    }

}
