import FleetCore
import Foundation

/// Reads GPUs through `nvidia-smi --query-gpu=… --format=csv`. Values with
/// units ("0 %", "81559 MiB"), without, and "[N/A]"/"[Not Supported]" on
/// other cards all parse; unknown values are nil, never a crash.
public enum NvidiaSMI {
    /// The query the agent runs.
    public static let columns = ["index", "name", "utilization.gpu", "memory.used", "memory.total"]

    /// Runs nvidia-smi (if present) with a time bound; nil when there is no usable GPU tool.
    public static func sample(executable: String = "nvidia-smi", timeout: Duration = .seconds(5)) -> [GPUSample]? {
        guard let path = resolve(executable) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--query-gpu=" + columns.joined(separator: ","), "--format=csv"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let deadline = ContinuousClock.now + timeout
        let data = output.fileHandleForReading.readDataToEndOfFile()
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            return nil
        }
        guard process.terminationStatus == 0 else { return nil }
        return parse(String(decoding: data, as: UTF8.self))
    }

    static func resolve(_ executable: String) -> String? {
        if executable.contains("/") { return FileManager.default.isExecutableFile(atPath: executable) ? executable : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(executable)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Parses CSV output. With a header line (`--format=csv`), columns are found by name;
    /// without one (`noheader`), `columns` gives their order.
    public static func parse(_ text: String, columns given: [String] = columns) -> [GPUSample] {
        var lines = text.split(whereSeparator: \.isNewline).map { String($0) }.filter { !$0.trimmedSpaces.isEmpty }
        guard let first = lines.first else { return [] }
        var columns = given
        if first.lowercased().hasPrefix("index") || first.contains("[") && !first.contains("[N/A]") {
            columns = first.split(separator: ",").map { field in
                // "memory.used [MiB]" → "memory.used"
                String(field.trimmedSpaces.split(separator: " ").first ?? "")
            }
            lines.removeFirst()
        }
        func column(_ name: String) -> Int? { columns.firstIndex(of: name) }
        var gpus: [GPUSample] = []
        for (row, line) in lines.enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmedSpaces }
            func field(_ name: String) -> String? {
                guard let i = column(name), i < fields.count else { return nil }
                let value = fields[i]
                return value.isEmpty || value.hasPrefix("[") || value == "N/A" ? nil : value
            }
            let index = field("index").flatMap { Int($0) } ?? row
            let name = (field("name") ?? "GPU \(index)").utf8Prefix(EventLimits.maxNameBytes)
            let utilization = field("utilization.gpu").flatMap(number).map { min(100, max(0, $0)) }
            var used = field("memory.used").flatMap(bytes)
            let total = field("memory.total").flatMap(bytes)
            if let u = used, let t = total, u > t { used = t }
            gpus.append(GPUSample(index: index, name: name, utilizationPercent: utilization, memoryUsedBytes: used, memoryTotalBytes: total))
            if gpus.count == EventLimits.maxGPUs { break }
        }
        return gpus
    }

    /// "100 %", "100" → 100.
    static func number(_ text: String) -> Double? {
        Double(text.split(separator: " ").first.map(String.init) ?? "")
    }

    /// "81559 MiB", "81559" (MiB, as nvidia-smi reports memory) → bytes.
    static func bytes(_ text: String) -> UInt64? {
        let parts = text.split(separator: " ")
        guard let value = parts.first.flatMap({ Double($0) }), value >= 0, value < 1e12 else { return nil }
        let unit = parts.count > 1 ? parts[1].lowercased() : "mib"
        let factor: Double
        switch unit {
        case "kib": factor = 1024
        case "gib": factor = 1_073_741_824
        case "b": factor = 1
        default: factor = 1_048_576
        }
        return UInt64(value * factor)
    }
}
