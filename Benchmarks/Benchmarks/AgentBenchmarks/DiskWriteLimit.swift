import BenchmarkSupport
import Foundation

/// The disk's limit for a durable sequential write, to compare the WAL
/// with: `dd if=/dev/zero of=FILE bs=1M count=N conv=fdatasync` (one
/// fdatasync before dd exits), timed from start to exit.
enum DiskWriteLimit {
    static let path = "/usr/bin/dd"

    /// Writes `mebibytes` MiB to `file`, deletes it, and returns how long dd ran.
    static func measure(file: String, mebibytes: Int) async throws -> Duration {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["if=/dev/zero", "of=\(file)", "bs=1M", "count=\(mebibytes)", "conv=fdatasync"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        defer { try? FileManager.default.removeItem(atPath: file) }
        let (status, elapsed) = try await ChildProcess.run(process)
        guard status == 0 else {
            throw BenchmarkFailure(description: "\(path) \(process.arguments?.joined(separator: " ") ?? "") exited with status \(status)")
        }
        return elapsed
    }
}
