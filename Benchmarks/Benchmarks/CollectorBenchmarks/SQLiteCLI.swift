import BenchmarkSupport
import Foundation

/// The system `sqlite3` command (Debian package `sqlite3`), which builds the
/// summary store and performs the raw bulk insert the ingest is compared with.
enum SQLiteCLI {
    /// Where Debian's `sqlite3` package installs the command.
    static let path = "/usr/bin/sqlite3"

    /// What one run of the command printed, and how long the process took.
    struct Run {
        /// Standard output.
        var output: String
        /// From just before the process was started until it had exited.
        var elapsed: Duration
    }

    /// Runs `sqlite3 -bail -batch DATABASE` with `script` (a file) as its
    /// standard input and waits for it to exit; throws when it fails or
    /// prints to standard error (an `.import` that skipped rows does).
    @discardableResult
    static func run(database: String, script: String) async throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw BenchmarkFailure(description: "\(path) is not installed (Debian package sqlite3)")
        }
        guard let input = FileHandle(forReadingAtPath: script) else {
            throw BenchmarkFailure(description: "cannot read \(script)")
        }
        defer { try? input.close() }
        let errorFile = script + ".stderr"
        let outputFile = script + ".stdout"
        defer {
            try? FileManager.default.removeItem(atPath: errorFile)
            try? FileManager.default.removeItem(atPath: outputFile)
        }
        guard FileManager.default.createFile(atPath: errorFile, contents: nil),
            FileManager.default.createFile(atPath: outputFile, contents: nil),
            let errors = FileHandle(forWritingAtPath: errorFile), let output = FileHandle(forWritingAtPath: outputFile)
        else {
            throw BenchmarkFailure(description: "cannot create \(outputFile) and \(errorFile)")
        }
        defer {
            try? errors.close()
            try? output.close()
        }

        // Output goes to files rather than pipes, so a chatty script can never
        // stall the process on a full pipe while it is being timed.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-bail", "-batch", database]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        let (status, elapsed) = try await ChildProcess.run(process)

        let printed = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: outputFile))) ?? Data(), as: UTF8.self)
        let complaints = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: errorFile))) ?? Data(), as: UTF8.self)
        guard status == 0, complaints.isEmpty else {
            throw BenchmarkFailure(
                description: "\(path) \(database) < \(script) exited with status \(status): \(complaints.prefix(2_000))")
        }
        return Run(output: printed, elapsed: elapsed)
    }

    /// Runs `sql` (written to a file next to `database` first) and returns what it printed.
    @discardableResult
    static func execute(database: String, sql: String) async throws -> String {
        let script = database + ".script-\(UUID().uuidString).sql"
        try Data(sql.utf8).write(to: URL(fileURLWithPath: script))
        defer { try? FileManager.default.removeItem(atPath: script) }
        return try await run(database: database, script: script).output
    }
}
