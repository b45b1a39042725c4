import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real `fleet-collector` process, started from the binary SwiftPM built
/// beside this test bundle, with its stderr in a log file.
final class CollectorProcess {
    let process = Process()
    let logPath: String

    static var binary: String { binary(named: "fleet-collector") }

    static func binary(named product: String) -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // The test bundle may sit inside an .xctest directory.
        while dir.path != "/" && !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent(product).path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent(product).path
    }

    init(arguments: [String], logPath: String, product: String = "fleet-collector") throws {
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.binary(named: product))
        process.arguments = arguments
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits for the log line `… address=HOST:PORT … <marker>` and returns PORT.
    func port(marker: String, timeout: Duration = .seconds(30)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for line in log.split(separator: "\n") where line.contains(marker) {
                if let range = line.range(of: "address=127.0.0.1:") {
                    let digits = line[range.upperBound...].prefix { $0.isNumber }
                    if let port = Int(digits) { return port }
                }
            }
            guard process.isRunning else { throw ProcessFailure("collector exited: \(log)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ProcessFailure("no \"\(marker)\" line within \(timeout): \(log)")
    }

    func kill(_ signal: Int32) {
        Glibc.kill(process.processIdentifier, signal)
    }

    func wait() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Runs the binary to completion and returns (status, stderr).
    static func run(_ arguments: [String], product: String = "fleet-collector") throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary(named: product))
        process.arguments = arguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

struct ProcessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
