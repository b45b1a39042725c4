import BenchmarkSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real `fleet-agent` or `fleet-collector` process from the main
/// package's release build, its standard error in a log file. Killed with
/// SIGKILL if still running when released, so a failed benchmark leaves no
/// process behind.
final class FleetProcess {
    let product: String
    let logPath: String
    private let process = Process()

    /// The release binaries' folder: `FLEET_BIN_DIR`, else the first of
    /// `../.build-release/release` and `../.build/release` that holds both
    /// binaries (build them with `swift build -c release --static-swift-stdlib
    /// --scratch-path .build-release` in the repository, as deployed).
    static func binaryDirectory() throws -> String {
        let repository = URL(fileURLWithPath: BenchmarkDirectory.package).deletingLastPathComponent().path
        var candidates = [repository + "/.build-release/release", repository + "/.build/release"]
        if let chosen = ProcessInfo.processInfo.environment["FLEET_BIN_DIR"] { candidates = [chosen] }
        for directory in candidates
        where ["fleet-agent", "fleet-collector"].allSatisfy({ FileManager.default.isExecutableFile(atPath: directory + "/" + $0) }) {
            return directory
        }
        throw BenchmarkFailure(
            description: "no release fleet-agent and fleet-collector in \(candidates.joined(separator: " or ")): "
                + "run `swift build -c release --static-swift-stdlib --scratch-path .build-release` in the repository, or set FLEET_BIN_DIR")
    }

    /// "PATH (built YYYY-MM-DD HH:MM UTC)", for the report.
    static func describe(_ product: String) -> String {
        guard let directory = try? binaryDirectory() else { return product }
        let path = directory + "/" + product
        let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? nil
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return path + (modified.map { " (built \(formatter.string(from: $0)))" } ?? "")
    }

    /// Starts `product` with `arguments`.
    init(_ product: String, arguments: [String], logPath: String) throws {
        self.product = product
        self.logPath = logPath
        guard FileManager.default.createFile(atPath: logPath, contents: nil) else {
            throw BenchmarkFailure(description: "cannot create \(logPath)")
        }
        process.executableURL = URL(fileURLWithPath: try Self.binaryDirectory() + "/" + product)
        process.arguments = arguments
        // Not the benchmark harness's malloc interposer (LD_PRELOAD): the fleet's processes are
        // measured as they run in production.
        var environment = ProcessInfo.processInfo.environment
        environment["LD_PRELOAD"] = nil
        process.environment = environment
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    var pid: Int32 { process.processIdentifier }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits for the log line holding `marker` and `address=127.0.0.1:PORT`, and returns PORT.
    func port(marker: String, timeout: Duration = .seconds(60)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for line in log.split(separator: "\n") where line.contains(marker) {
                if let range = line.range(of: "address=127.0.0.1:"), let port = Int(line[range.upperBound...].prefix { $0.isNumber }) {
                    return port
                }
            }
            guard process.isRunning else { throw BenchmarkFailure(description: "\(product) exited: \(log.suffix(2_000))") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchmarkFailure(description: "\(product) logged no \"\(marker)\" within \(timeout): \(log.suffix(2_000))")
    }

    /// SIGTERM (graceful shutdown) and waits up to `limit`; then SIGKILL.
    /// Returns the exit status and how long the graceful shutdown took, or
    /// nil when it had to be killed.
    @discardableResult
    func terminate(limit: Duration = .seconds(90)) async -> (status: Int32, took: Duration)? {
        guard process.isRunning else { return (process.terminationStatus, .zero) }
        let clock = ContinuousClock()
        let start = clock.now
        kill(process.processIdentifier, SIGTERM)
        while process.isRunning && start.duration(to: clock.now) < limit {
            try? await Task.sleep(for: .milliseconds(50))
        }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        return (process.terminationStatus, start.duration(to: clock.now))
    }

    /// Throws when the process has exited.
    func checkRunning() throws {
        guard process.isRunning else {
            throw BenchmarkFailure(description: "\(product) exited with status \(process.terminationStatus): \(log.suffix(2_000))")
        }
    }
}
